-- Business-hours defaults per site kind (issue 13): the weekly schedule of every site that has
-- none of its own (`sites.week_hours IS NULL`). Seeded with exactly
-- `WeekSchedule::default_for` (server/src/sites/hours.rs; a test compares the two). The offline
-- sweep, the incident worker and the pages read this table whenever they need a default — there
-- is no cache —, so a change made on one replica applies on every replica at its next sweep.
-- Same stored form as `sites.week_hours`: minutes of the week, Monday 00:00 JST = 0.
-- Owner: server/src/sites/hours_defaults.rs (the only writer, audited).
CREATE TABLE site_kind_hours (
    kind       text PRIMARY KEY CHECK (kind IN ('clinic', 'pharmacy', 'home_nursing')),
    week_hours int4multirange NOT NULL CHECK (NOT isempty(week_hours)),
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL DEFAULT 'migration'
);

INSERT INTO site_kind_hours (kind, week_hours) VALUES
    -- 医療機関: mon-fri 09:00-18:00; sat 09:00-13:00
    ('clinic', '{[540,1080),[1980,2520),[3420,3960),[4860,5400),[6300,6840),[7740,7980)}'),
    -- 薬局: mon-fri 09:00-19:00; sat 09:00-13:00
    ('pharmacy', '{[540,1140),[1980,2580),[3420,4020),[4860,5460),[6300,6900),[7740,7980)}'),
    -- 訪問看護ステーション: mon-fri 08:30-17:30
    ('home_nursing', '{[510,1050),[1950,2490),[3390,3930),[4830,5370),[6270,6810)}');
