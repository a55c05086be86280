-- The operator console's site, incident and admin pages (issue 13).

-- 1. Deleting a site (admin page, `sites::store::delete`) takes what is only about it: its
--    agents (and through them their pending seqs), its enrolment tokens and its latest state.
--    Incidents, silences and hours exceptions already cascade (0003, 0004); the report history
--    has no foreign key (partitioned) and is deleted by `sites::store::delete` itself.
ALTER TABLE agents DROP CONSTRAINT agents_site_id_fkey,
    ADD CONSTRAINT agents_site_id_fkey FOREIGN KEY (site_id) REFERENCES sites (site_id) ON DELETE CASCADE;
ALTER TABLE enrolment_tokens DROP CONSTRAINT enrolment_tokens_site_id_fkey,
    ADD CONSTRAINT enrolment_tokens_site_id_fkey FOREIGN KEY (site_id) REFERENCES sites (site_id) ON DELETE CASCADE;
ALTER TABLE site_state DROP CONSTRAINT site_state_site_id_fkey,
    ADD CONSTRAINT site_state_site_id_fkey FOREIGN KEY (site_id) REFERENCES sites (site_id) ON DELETE CASCADE;

-- 2. The incident list (`/incidents`, `GET /api/v1/incidents`) pages through the active
--    incidents in the order severity rank, first seen, id (`incidents::query::RANK`) with a
--    keyset cursor: this index gives that order directly, so a page at national scale reads
--    its 50 rows instead of sorting every open incident.
CREATE INDEX incidents_active_order_idx ON incidents
    ((CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END), first_seen, incident_id)
    WHERE state <> 'resolved';
-- The same order over every incident, for the views of resolved ones (`state=resolved|all`),
-- which grow with the months.
CREATE INDEX incidents_order_idx ON incidents
    ((CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END), first_seen, incident_id);
-- Filter by assignee ("my incidents").
CREATE INDEX incidents_assignee_idx ON incidents (assignee, first_seen) WHERE assignee IS NOT NULL;
