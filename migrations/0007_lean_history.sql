-- The lean history row (issue 14; contract in docs/SCALING.md "The history row"): the report
-- as protobuf bytes plus the few typed columns the console's 7-day charts read, instead of the
-- whole report as jsonb (about half the bytes, and no jsonb parsing on insert). Written only
-- by server/src/ingest/ (rows prepared in ingest/prepare.rs); `site_state.report` keeps the
-- JSON form of fleet/report.rs.
--
-- Nothing is lost: the jsonb history moves aside as report_history_v1, its partitions renamed
-- with it so that partition maintenance never takes one of them for a partition of the new
-- table. The server converts its rows into the new table in the background and drops it once
-- empty (ingest/legacy.rs).
ALTER TABLE report_history RENAME TO report_history_v1;
ALTER INDEX report_history_site_idx RENAME TO report_history_v1_site_idx;
DO $$
DECLARE
    part record;
BEGIN
    FOR part IN
        SELECT c.relname FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname = 'report_history_v1'
    LOOP
        EXECUTE format('ALTER TABLE %I RENAME TO %I', part.relname,
                       'report_history_v1' || substr(part.relname, length('report_history') + 1));
    END LOOP;
END $$;

-- Partitioned by day of received_at (ingest/history.rs creates and drops the partitions); the
-- DEFAULT partition catches rows when a day's partition is missing.
CREATE TABLE report_history (
    -- Commit time: the partition key.
    received_at       timestamptz NOT NULL,
    agent_id          text NOT NULL,
    site_id           text NOT NULL,
    seq               bigint NOT NULL,
    collected_at      timestamptz NOT NULL,
    health            text NOT NULL CHECK (health IN ('ok', 'info', 'warning', 'critical')),
    -- The validated onshi.v1.Report, protobuf-encoded (prost): everything the agent said.
    report            bytea NOT NULL,
    -- NULL when the site has no reader or its power is unknown.
    reader_power      text CHECK (reader_power IN ('on', 'off', 'absent')),
    boot_time         timestamptz,
    -- NetworkTarget name / reachable / latency, in report order; a latency element is NULL
    -- when the target was unreachable or the latency unknown.
    target_names      text[] NOT NULL,
    target_reachable  boolean[] NOT NULL,
    target_latency_ms integer[] NOT NULL,
    -- Number of AgentHealth.probe_errors (the texts are in `report`).
    probe_errors      smallint NOT NULL
) PARTITION BY RANGE (received_at);
CREATE TABLE report_history_default PARTITION OF report_history DEFAULT;
-- The site page's charts and the fault tests read one site (or agent) over a time range.
CREATE INDEX report_history_site_idx ON report_history (site_id, received_at DESC);
