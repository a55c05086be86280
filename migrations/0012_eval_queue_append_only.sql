-- Ingest never waits for the incident worker (issue 14). With site_id as the queue's primary
-- key, the site_state trigger's `INSERT … ON CONFLICT DO NOTHING` waited for the worker's
-- uncommitted DELETE of the same site's row, held for a whole batch of evaluations: writers
-- stalled 1–5 s on Lock/transactionid in a soak.
--
-- Now the queue is append-only (no unique key, so an insert never waits on anyone), and the
-- trigger appends only when the site has no entry it can share: it takes a KEY SHARE lock on
-- the existing entries with SKIP LOCKED, which never waits — an entry the worker has claimed is
-- skipped and a new one appended; an entry it locks cannot be claimed (the worker's FOR UPDATE
-- SKIP LOCKED passes over it) until the report's transaction has committed, so the evaluation
-- that consumes it reads that report. The queue thus holds at most about one waiting entry per
-- site (plus those being evaluated), however far the worker falls behind. The worker claims
-- every entry of the sites it takes and evaluates each site once (incidents/worker.rs).
ALTER TABLE incident_eval_queue DROP CONSTRAINT incident_eval_queue_pkey;
ALTER TABLE incident_eval_queue ADD COLUMN entry_id bigserial PRIMARY KEY;
CREATE INDEX incident_eval_queue_site_idx ON incident_eval_queue (site_id);

-- Appends an entry for each of `sites` that has no waiting entry this transaction can share.
-- PL/pgSQL, not SQL: its plan is cached per session, where a SQL function's body is parsed and
-- planned at every call (measured: a tenth of the database's time under load).
CREATE FUNCTION incident_eval_enqueue(sites text[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    WITH shared AS MATERIALIZED (
        SELECT q.site_id FROM incident_eval_queue q WHERE q.site_id = ANY (sites)
        FOR KEY SHARE SKIP LOCKED)
    INSERT INTO incident_eval_queue (site_id)
    SELECT DISTINCT s FROM unnest(sites) AS s WHERE s NOT IN (SELECT site_id FROM shared);
END $$;

-- Per statement, not per row: ingest writes a whole group's site_state rows in one
-- statement, and one set-based enqueue is cheaper than a PL/pgSQL call per row
-- (docs/BENCHMARKS.md). A new site's first report is always owed an evaluation; a later one
-- when it, or the one before it, has findings, or the site has an open incident (its
-- condition may have gone, or an `offline` is answered by any report). The worker's own
-- updates never change seq, so they never enqueue.
DROP TRIGGER site_state_evaluation ON site_state;
DROP FUNCTION site_state_owes_evaluation();

CREATE FUNCTION site_state_inserted_owes_evaluation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM incident_eval_enqueue(ARRAY(SELECT site_id FROM new_rows));
    RETURN NULL;
END $$;

CREATE FUNCTION site_state_updated_owes_evaluation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM incident_eval_enqueue(ARRAY(
        SELECT n.site_id FROM new_rows n JOIN old_rows o USING (site_id)
        WHERE (n.seq, n.agent_id) IS DISTINCT FROM (o.seq, o.agent_id)
          AND (n.findings <> '[]'::jsonb OR o.findings <> '[]'::jsonb
               OR EXISTS (SELECT 1 FROM incidents i
                          WHERE i.site_id = n.site_id AND i.state <> 'resolved'))));
    RETURN NULL;
END $$;

-- The insert trigger keeps the old name (`seed` disables it while it fills site_state).
CREATE TRIGGER site_state_evaluation AFTER INSERT ON site_state
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION site_state_inserted_owes_evaluation();
CREATE TRIGGER site_state_evaluation_update AFTER UPDATE ON site_state
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION site_state_updated_owes_evaluation();
