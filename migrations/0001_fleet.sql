-- Fleet core: sites, agents, delivery bookkeeping, latest state and history.
-- Conventions: see migrations/README.md.

CREATE TABLE sites (
    site_id        text PRIMARY KEY,
    name           text NOT NULL,
    prefecture     text NOT NULL DEFAULT '',
    -- 医療機関 / 薬局 / 訪問看護ステーション (domain.md §1)
    kind           text NOT NULL DEFAULT 'clinic'
                   CHECK (kind IN ('clinic', 'pharmacy', 'home_nursing')),
    reader_maker   text CHECK (reader_maker IN ('fujitsu', 'panasonic', 'atlus', 'almex', 'canon')),
    router_model   text CHECK (router_model IN ('AT-AR1050V', 'NVR700', 'RTX830')),
    has_hub        boolean NOT NULL DEFAULT false,
    maintenance    text NOT NULL DEFAULT 'none' CHECK (maintenance IN ('none', 'omakase')),
    -- 「Nにおまかせ！ITサポート」 dedicated dial from the site's contract.
    omakase_dial   text,
    receipt_vendor text,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agents (
    agent_id      text PRIMARY KEY,
    site_id       text NOT NULL REFERENCES sites (site_id),
    -- Highest seq such that 1..=acked_seq are all committed (the ack we give).
    acked_seq     bigint NOT NULL DEFAULT 0 CHECK (acked_seq >= 0),
    agent_version text NOT NULL DEFAULT '',
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agents_site_idx ON agents (site_id);

-- Seqs committed above acked_seq (they arrived out of order). Rows are removed
-- as acked_seq passes them, so the table stays tiny; its primary key is what
-- makes a replay of an out-of-order report idempotent.
CREATE TABLE agent_pending_seqs (
    agent_id text NOT NULL REFERENCES agents (agent_id) ON DELETE CASCADE,
    seq      bigint NOT NULL,
    PRIMARY KEY (agent_id, seq)
);

-- Append-only history of every report, partitioned by day of receipt so that
-- retention drops whole partitions (see server/src/ingest/history.rs). The
-- DEFAULT partition catches rows when a day's partition is missing, so an
-- insert never fails for that reason.
CREATE TABLE report_history (
    received_at  timestamptz NOT NULL,
    agent_id     text NOT NULL,
    seq          bigint NOT NULL,
    site_id      text NOT NULL,
    collected_at timestamptz NOT NULL,
    health       text NOT NULL,
    report       jsonb NOT NULL
) PARTITION BY RANGE (received_at);
CREATE TABLE report_history_default PARTITION OF report_history DEFAULT;
CREATE INDEX report_history_site_idx ON report_history (site_id, received_at DESC);

-- Latest state per site: what dashboards read.
CREATE TABLE site_state (
    site_id      text PRIMARY KEY REFERENCES sites (site_id),
    agent_id     text NOT NULL,
    seq          bigint NOT NULL,
    collected_at timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    health       text NOT NULL CHECK (health IN ('ok', 'warning', 'critical')),
    findings     jsonb NOT NULL DEFAULT '[]',
    report       jsonb NOT NULL
);
CREATE INDEX site_state_health_idx ON site_state (health, received_at);
