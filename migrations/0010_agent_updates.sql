-- Agent updates (issue 17, docs/UPDATES.md): signed releases, staged rollouts
-- in rings, and what agents say became of each update.

-- A published release: one agent binary for one target, with the manifest
-- exactly as signed. The server checks the signature when publishing; agents
-- check it again with their own keys.
CREATE TABLE releases (
    release_id         bigserial PRIMARY KEY,
    version            text NOT NULL CHECK (version <> ''),
    target             text NOT NULL CHECK (target IN ('windows-x86_64', 'linux-x86_64')),
    -- A rollback release may carry the version of an earlier normal one.
    rollback           boolean NOT NULL DEFAULT false,
    sha256             text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size_bytes         bigint NOT NULL CHECK (size_bytes > 0),
    min_server_version text NOT NULL DEFAULT '',
    notes              text NOT NULL DEFAULT '',
    -- The signed bytes, the Ed25519 signature and the signing key's id.
    manifest           bytea NOT NULL,
    signature          bytea NOT NULL,
    key_id             text NOT NULL,
    published_by       text NOT NULL,
    published_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (version, target, rollback)
);

-- The binaries, apart from their description so that lists never read them.
-- EXTERNAL: stored uncompressed out of line (executables barely compress),
-- so the server reads a binary without decompressing it.
CREATE TABLE release_binaries (
    release_id bigint PRIMARY KEY REFERENCES releases (release_id) ON DELETE CASCADE,
    bytes      bytea NOT NULL
);
ALTER TABLE release_binaries ALTER COLUMN bytes SET STORAGE EXTERNAL;

-- A rollout of one release to the fleet of its target, ring by ring: ring 0
-- is the canary (chosen sites and/or a percentage of sites by a stable hash
-- of the site id), ring k >= 1 reaches ring_percents[k] percent of sites.
CREATE TABLE rollouts (
    rollout_id           bigserial PRIMARY KEY,
    release_id           bigint NOT NULL REFERENCES releases (release_id),
    target               text NOT NULL CHECK (target IN ('windows-x86_64', 'linux-x86_64')),
    state                text NOT NULL CHECK (state IN ('running', 'paused', 'halted', 'aborted', 'completed')),
    ring                 smallint NOT NULL DEFAULT 0 CHECK (ring >= 0),
    canary_sites         text[] NOT NULL DEFAULT '{}',
    -- Hundredths of a percent (100 = 1 %), so 0.5 % canaries are possible.
    canary_basis_points  integer NOT NULL DEFAULT 0 CHECK (canary_basis_points BETWEEN 0 AND 10000),
    ring_percents        integer[] NOT NULL CHECK (cardinality(ring_percents) BETWEEN 1 AND 10),
    -- Downloads of a ring are spread over this many minutes (per-agent delay).
    spread_minutes       integer NOT NULL CHECK (spread_minutes BETWEEN 0 AND 1440),
    -- An administrator allowed swapping during business hours.
    force_swap           boolean NOT NULL DEFAULT false,
    -- Automatic halt: new-version agents worse than old-version agents by
    -- more than this many percentage points, or more rollbacks than this
    -- percentage of the agents that tried (at least one).
    halt_margin_points   integer NOT NULL DEFAULT 10 CHECK (halt_margin_points BETWEEN 1 AND 100),
    max_rollback_percent integer NOT NULL DEFAULT 5 CHECK (max_rollback_percent BETWEEN 0 AND 100),
    -- Why it halted itself (Japanese, for the admin page) and the figures.
    halt_reason          text,
    halt_detail          jsonb,
    started_by           text NOT NULL,
    started_at           timestamptz NOT NULL,
    ring_started_at      timestamptz NOT NULL,
    -- The monitor counts rollbacks and crashes from here: the start, then
    -- each resume (an administrator who resumes has seen the earlier ones).
    health_since         timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    ended_at             timestamptz
);
-- At most one live rollout per target: agents are offered one release.
CREATE UNIQUE INDEX rollouts_one_live_per_target ON rollouts (target)
    WHERE state IN ('running', 'paused', 'halted');

-- The rollout's timeline: every step, by whom (an operator, the CLI user, or
-- the monitor for a halt).
CREATE TABLE rollout_events (
    event_id   bigserial PRIMARY KEY,
    rollout_id bigint NOT NULL REFERENCES rollouts (rollout_id),
    at         timestamptz NOT NULL,
    actor      text NOT NULL,
    action     text NOT NULL CHECK (action IN ('start', 'pause', 'resume', 'abort', 'widen', 'halt', 'complete')),
    ring       smallint NOT NULL,
    note       text NOT NULL DEFAULT ''
);
CREATE INDEX rollout_events_rollout_idx ON rollout_events (rollout_id, at);

-- What agents say became of updates (ReportUpdateEvents). The agent picks the
-- event id; a resend hits the primary key and is not stored twice.
CREATE TABLE agent_update_events (
    agent_id     text NOT NULL REFERENCES agents (agent_id) ON DELETE CASCADE,
    event_id     bigint NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('staged', 'applied', 'refused', 'rolled_back', 'crash_restart')),
    version      text NOT NULL,
    from_version text NOT NULL DEFAULT '',
    reason       text NOT NULL DEFAULT '',
    occurred_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    -- The rollout that offered it, as the agent heard it (0 = none).
    rollout_id   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (agent_id, event_id)
);
-- The monitor counts one release's outcomes; the admin page lists a rollout's.
CREATE INDEX agent_update_events_version_idx ON agent_update_events (version, kind, occurred_at);
CREATE INDEX agent_update_events_rollout_idx ON agent_update_events (rollout_id, occurred_at DESC);
