-- Notifications to operators (issue 12): channels, routes, and the delivery outbox.
-- Owner: server/src/notify/ (the only code that writes these tables; the incident store
-- writes `notify_events` through `notify::outbox`, in the incident's own transaction).

-- Where messages go. A webhook gets a signed JSON POST; an smtp channel a mail through the
-- server's one mail sender (`mail.rs`). The secret and an SMTP password in `smtp_url` are
-- needed in clear to sign / log in, so they are stored as given and never shown again.
CREATE TABLE notify_channels (
    channel_id     bigserial PRIMARY KEY,
    name           text NOT NULL UNIQUE,
    kind           text NOT NULL CHECK (kind IN ('webhook', 'smtp')),
    -- Below this severity the channel hears nothing (routes may narrow further).
    min_severity   text NOT NULL DEFAULT 'warning' CHECK (min_severity IN ('info', 'warning', 'critical')),
    url            text,
    secret         text,
    smtp_url       text,
    mail_from      text,
    mail_to        text[],
    -- Incidents opening within this many seconds of the first go out as one message.
    group_seconds  integer NOT NULL DEFAULT 60 CHECK (group_seconds BETWEEN 0 AND 3600),
    -- Unacknowledged critical incidents are said again every N minutes (0: never).
    repeat_minutes integer NOT NULL DEFAULT 0 CHECK (repeat_minutes BETWEEN 0 AND 10080),
    -- Tries before a message is dead-lettered.
    max_attempts   integer NOT NULL DEFAULT 8 CHECK (max_attempts BETWEEN 1 AND 100),
    timeout_seconds integer NOT NULL DEFAULT 10 CHECK (timeout_seconds BETWEEN 1 AND 300),
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (kind <> 'webhook' OR (url IS NOT NULL AND secret IS NOT NULL)),
    CHECK (kind <> 'smtp' OR (smtp_url IS NOT NULL AND mail_from IS NOT NULL
                              AND cardinality(mail_to) >= 1))
);

-- Routing rules: which incidents go to which channels. Every given matcher must match (an
-- empty list matches everything). A channel that no route names hears every incident at or
-- above its own minimum severity; once a route names it, only what its routes match.
CREATE TABLE notify_routes (
    route_id     bigserial PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    min_severity text NOT NULL DEFAULT 'warning' CHECK (min_severity IN ('info', 'warning', 'critical')),
    rules        text[] NOT NULL DEFAULT '{}',
    prefectures  text[] NOT NULL DEFAULT '{}',
    kinds        text[] NOT NULL DEFAULT '{}',
    maintenance  text CHECK (maintenance IN ('none', 'omakase')),
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notify_route_channels (
    route_id   bigint NOT NULL REFERENCES notify_routes (route_id) ON DELETE CASCADE,
    channel_id bigint NOT NULL REFERENCES notify_channels (channel_id) ON DELETE CASCADE,
    PRIMARY KEY (route_id, channel_id)
);
CREATE INDEX notify_route_channels_channel_idx ON notify_route_channels (channel_id);

-- Notifications owed: one row per incident change that may tell someone something, written
-- in the transaction of the change itself (incidents/store.rs → notify::outbox), so a change
-- is never committed without its notification being owed. Drained by the notify router
-- (FOR UPDATE SKIP LOCKED), which decides who hears it and deletes the row in the same
-- transaction. `incident_id` is NULL for a non-incident event (e.g. an update roll-out halted).
CREATE TABLE notify_events (
    event_id      bigserial PRIMARY KEY,
    incident_id   bigint REFERENCES incidents (incident_id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('opened', 'reopened', 'raised', 'resolved', 'event')),
    -- `raised`: the severity before; `event`: the event's severity.
    severity      text CHECK (severity IN ('info', 'warning', 'critical')),
    event_kind    text,
    subject       text,
    body          text,
    at            timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'event') = (incident_id IS NULL)),
    CHECK (kind <> 'event' OR (severity IS NOT NULL AND event_kind IS NOT NULL
                               AND subject IS NOT NULL AND body IS NOT NULL))
);

-- One message to one channel, and its delivery. `grouping`: collecting incidents until
-- `group_until`; then sealed (subject, body and payload fixed) as `pending`; `sending` while a
-- sender holds it (claimed with FOR UPDATE SKIP LOCKED, leased until `lease_until`: a sender
-- killed mid-send leaves the lease to run out and another takes the message again); `retrying`
-- after a failed try; `sent` or `dead` (dead-lettered) at the end. The idempotency key is fixed
-- when the row is made, so every try of the same message — after a crash too — carries it.
CREATE TABLE notify_deliveries (
    delivery_id     bigserial PRIMARY KEY,
    channel_id      bigint REFERENCES notify_channels (channel_id) ON DELETE SET NULL,
    channel_name    text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('opened', 'resolved', 'repeat', 'event', 'test')),
    state           text NOT NULL CHECK (state IN ('grouping', 'pending', 'sending', 'retrying', 'sent', 'dead')),
    idempotency_key uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    group_until     timestamptz,
    subject         text NOT NULL DEFAULT '',
    body            text NOT NULL DEFAULT '',
    payload         jsonb NOT NULL DEFAULT '{}',
    attempts        integer NOT NULL DEFAULT 0,
    max_attempts    integer NOT NULL DEFAULT 8,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    last_attempt_at timestamptz,
    last_error      text,
    sent_at         timestamptz,
    retried_by      text,
    retried_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- One open group per channel and kind: two replicas routing at once join the same group.
CREATE UNIQUE INDEX notify_deliveries_one_group ON notify_deliveries (channel_id, kind)
    WHERE state = 'grouping';
-- The sender's queue: due messages, oldest first.
CREATE INDEX notify_deliveries_due_idx ON notify_deliveries (next_attempt_at)
    WHERE state IN ('pending', 'retrying');
-- Messages whose sender died mid-send, found when their lease runs out.
CREATE INDEX notify_deliveries_lease_idx ON notify_deliveries (lease_until) WHERE state = 'sending';
CREATE INDEX notify_deliveries_state_idx ON notify_deliveries (state, delivery_id DESC);

-- Which incidents a message is about: the list in a grouped message, and the memory of who
-- was told (a resolution goes to the channels that heard the opening; repeats are timed from
-- the last message).
CREATE TABLE notify_delivery_incidents (
    delivery_id bigint NOT NULL REFERENCES notify_deliveries (delivery_id) ON DELETE CASCADE,
    incident_id bigint NOT NULL REFERENCES incidents (incident_id) ON DELETE CASCADE,
    PRIMARY KEY (delivery_id, incident_id)
);
CREATE INDEX notify_delivery_incidents_incident_idx ON notify_delivery_incidents (incident_id);
