-- Ingest never waits for the incident worker (issue 14). With site_id as the queue's primary
-- key, the site_state trigger's `INSERT … ON CONFLICT DO NOTHING` waited for the worker's
-- uncommitted DELETE of the same site's row, held for a whole batch of evaluations: writers
-- stalled 1–5 s on Lock/transactionid in a soak.
--
-- Now the queue is append-only (no unique key, so an insert never waits on anyone), and the
-- trigger appends only when the site has no entry it can share: it takes a KEY SHARE lock on
-- an existing entry with SKIP LOCKED, which never waits — an entry the worker has claimed is
-- skipped and a new one appended; an entry it locks cannot be claimed (the worker's FOR UPDATE
-- SKIP LOCKED passes over it) until the report's transaction has committed, so the evaluation
-- that consumes it reads that report. The queue thus holds at most about one waiting entry per
-- site (plus those being evaluated), however far the worker falls behind. The worker claims
-- every entry of the sites it takes and evaluates each site once (incidents/worker.rs).
ALTER TABLE incident_eval_queue DROP CONSTRAINT incident_eval_queue_pkey;
ALTER TABLE incident_eval_queue ADD COLUMN entry_id bigserial PRIMARY KEY;
CREATE INDEX incident_eval_queue_site_idx ON incident_eval_queue (site_id);

CREATE OR REPLACE FUNCTION site_state_owes_evaluation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT'
       OR ((NEW.seq, NEW.agent_id) IS DISTINCT FROM (OLD.seq, OLD.agent_id)
           AND (NEW.findings <> '[]'::jsonb OR OLD.findings <> '[]'::jsonb
                OR EXISTS (SELECT 1 FROM incidents i
                           WHERE i.site_id = NEW.site_id AND i.state <> 'resolved'))) THEN
        PERFORM 1 FROM incident_eval_queue WHERE site_id = NEW.site_id
            LIMIT 1 FOR KEY SHARE SKIP LOCKED;
        IF NOT FOUND THEN
            INSERT INTO incident_eval_queue (site_id) VALUES (NEW.site_id);
        END IF;
    END IF;
    RETURN NULL;
END $$;
