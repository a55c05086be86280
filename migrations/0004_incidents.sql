-- Incidents (issue 11): from findings to the few things an operator must act on.
-- Owner: server/src/incidents/ (the only code that writes these tables).

-- One row per fingerprint (site, rule, subject) while it is open or acknowledged; a condition
-- that returns within 24 h of resolution re-opens the same row.
CREATE TABLE incidents (
    incident_id     bigserial PRIMARY KEY,
    site_id         text NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    rule            text NOT NULL CHECK (rule IN (
        'reader_off', 'reader_absent', 'reader_on_after_close', 'clear_screen_missing',
        'cert_missing', 'cert_expired', 'cert_expiring', 'cert_desktop_file_missing',
        'cert_backup_missing', 'account_changed', 'network_unreachable', 'network_drift',
        'share_missing', 'no_daily_reboot', 'screen_lock_disabled', 'apps_not_updated',
        'agent_probe_errors', 'agent_spool_loss', 'offline')),
    -- What the rule is about at the site: a certificate serial, a network target, a share,
    -- an account kind; '' when the rule has one subject per site.
    subject         text NOT NULL DEFAULT '',
    severity        text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    state           text NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    title           text NOT NULL,
    detail          text NOT NULL DEFAULT '',
    evidence        jsonb NOT NULL DEFAULT '{}',
    first_seen      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL,
    -- Reports in which the condition was seen (from the agent's seqs, so reports that arrive
    -- between two evaluations still count).
    count           bigint NOT NULL DEFAULT 1 CHECK (count >= 1),
    last_seq        bigint NOT NULL DEFAULT 0,
    -- Hold-down: since when, and in how many reports, the condition has been absent.
    clear_since     timestamptz,
    clear_reports   integer NOT NULL DEFAULT 0,
    clear_seq       bigint NOT NULL DEFAULT 0,
    assignee        text,
    acknowledged_at timestamptz,
    acknowledged_by text,
    resolved_at     timestamptz,
    resolved_by     text,
    resolve_reason  text,
    reopen_count    integer NOT NULL DEFAULT 0,
    -- Opened/resolved more than K times in an hour: recorded, shown, notifies no one.
    flapping        boolean NOT NULL DEFAULT false,
    transitions     timestamptz[] NOT NULL DEFAULT '{}',
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- Two replicas can never open the same incident twice: the database refuses it.
CREATE UNIQUE INDEX incidents_open_fingerprint ON incidents (site_id, rule, subject)
    WHERE state <> 'resolved';
CREATE INDEX incidents_state_idx ON incidents (state, severity, first_seen);
CREATE INDEX incidents_site_idx ON incidents (site_id, last_seen DESC);
-- Re-open lookups: the latest resolution of a fingerprint.
CREATE INDEX incidents_resolved_fingerprint ON incidents (site_id, rule, subject, resolved_at DESC)
    WHERE state = 'resolved';

-- The timeline of an incident: every automatic and operator change.
CREATE TABLE incident_events (
    event_id    bigserial PRIMARY KEY,
    incident_id bigint NOT NULL REFERENCES incidents (incident_id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL CHECK (kind IN (
        'opened', 'reopened', 'severity_raised', 'acknowledged', 'assigned', 'commented',
        'resolved', 'auto_resolved', 'flapping', 'settled', 'escalation')),
    actor       text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX incident_events_incident_idx ON incident_events (incident_id, event_id);

-- Silences / maintenance windows: matching incidents are recorded and shown as silenced but
-- notify no one. Every given matcher must match (an empty one matches everything).
CREATE TABLE silences (
    silence_id  bigserial PRIMARY KEY,
    site_id     text REFERENCES sites (site_id) ON DELETE CASCADE,
    rule        text,
    prefecture  text,
    kind        text CHECK (kind IN ('clinic', 'pharmacy', 'home_nursing')),
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    reason      text NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);
CREATE INDEX silences_active_idx ON silences (ends_at);

-- Outbox of sites whose latest report must be evaluated into incidents. Filled by a trigger on
-- site_state in the ingest transaction itself, so a report is never committed without its
-- evaluation being owed; drained by the incident worker (FOR UPDATE SKIP LOCKED), so a server
-- killed between the two evaluates it after restart, and two replicas never take the same row.
CREATE TABLE incident_eval_queue (
    site_id   text PRIMARY KEY,
    queued_at timestamptz NOT NULL DEFAULT now()
);

-- A report is owed an evaluation when it, or the one before it, has findings, or the site has
-- an open incident (its condition may have gone, or an `offline` is answered by any report).
-- The worker's own updates never change seq, so they never enqueue.
CREATE FUNCTION site_state_owes_evaluation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT'
       OR ((NEW.seq, NEW.agent_id) IS DISTINCT FROM (OLD.seq, OLD.agent_id)
           AND (NEW.findings <> '[]'::jsonb OR OLD.findings <> '[]'::jsonb
                OR EXISTS (SELECT 1 FROM incidents i
                           WHERE i.site_id = NEW.site_id AND i.state <> 'resolved'))) THEN
        INSERT INTO incident_eval_queue (site_id) VALUES (NEW.site_id) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER site_state_evaluation AFTER INSERT OR UPDATE ON site_state
    FOR EACH ROW EXECUTE FUNCTION site_state_owes_evaluation();

-- The offline sweep scans silent sites by time of last report.
CREATE INDEX site_state_received_idx ON site_state (received_at);
-- The sweep asks "which sites with their own schedule are open at minute m?" (GiST on the
-- multirange), mostly at night when few are.
CREATE INDEX sites_week_hours_idx ON sites USING gist (week_hours) WHERE week_hours IS NOT NULL;
