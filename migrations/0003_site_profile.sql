-- The site model (issue 10 §3, issue 13): what operators need to find and call a site, the
-- equipment with serials and purchase dates (5-year replacement window, domain.md §4), the
-- receipt-system vendor, and the site's business hours (offline detection, issue 11).
-- Owner: server/src/sites/ (the only code that writes `sites`).

ALTER TABLE sites
    -- 医療機関等コード: 10 digits (prefecture 2 + table 1 + institution 7); empty = unknown.
    ADD COLUMN medical_code           text NOT NULL DEFAULT '' CHECK (medical_code ~ '^([0-9]{10})?$'),
    ADD COLUMN address                text NOT NULL DEFAULT '',
    ADD COLUMN phone                  text NOT NULL DEFAULT '',
    ADD COLUMN contact_person         text NOT NULL DEFAULT '',
    ADD COLUMN pc_serial              text NOT NULL DEFAULT '',
    ADD COLUMN pc_purchased_on        date,
    ADD COLUMN router_serial          text NOT NULL DEFAULT '',
    ADD COLUMN router_purchased_on    date,
    ADD COLUMN hub_serial             text NOT NULL DEFAULT '',
    ADD COLUMN hub_purchased_on       date,
    -- Phone / mail of the site's レセコン vendor (desk `receipt-vendor`).
    ADD COLUMN receipt_vendor_contact text NOT NULL DEFAULT '',
    -- Weekly opening bands in minutes of the week, Monday 00:00 JST = 0 (see
    -- server/src/sites/hours.rs). NULL = the default for the site's kind. A multirange lets
    -- the offline sweep ask "open at minute m?" in SQL for 250,000 sites at once.
    ADD COLUMN week_hours             int4multirange,
    -- Closed on national holidays and 12/29–1/3 unless a per-date exception opens it.
    ADD COLUMN closed_on_holidays     boolean NOT NULL DEFAULT true,
    ADD COLUMN updated_at             timestamptz NOT NULL DEFAULT now();

-- A date on which a site keeps other hours than its weekly schedule: closed all day
-- (empty multirange) or open during the given minutes of that day.
CREATE TABLE site_hours_exceptions (
    site_id   text NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    day       date NOT NULL,
    open_minutes int4multirange NOT NULL,
    note      text NOT NULL DEFAULT '',
    PRIMARY KEY (site_id, day)
);
-- The sweep looks up today's exceptions only.
CREATE INDEX site_hours_exceptions_day_idx ON site_hours_exceptions (day);

-- Low-severity findings (screen lock off, issue 11) colour a site "info".
ALTER TABLE site_state DROP CONSTRAINT site_state_health_check;
ALTER TABLE site_state ADD CONSTRAINT site_state_health_check
    CHECK (health IN ('ok', 'info', 'warning', 'critical'));
