-- Security: operators, sessions, API tokens, agent enrolment and revocation,
-- and the hash-chained audit log (issue 4; threat model in docs/SECURITY.md).

CREATE TABLE operators (
    operator_id         bigserial PRIMARY KEY,
    username            text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9._-]{1,64}$'),
    -- argon2id PHC string; the password itself is never stored.
    password_hash       text NOT NULL,
    role                text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    failed_logins       integer NOT NULL DEFAULT 0,
    locked_until        timestamptz,
    disabled            boolean NOT NULL DEFAULT false,
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    created_at          timestamptz NOT NULL DEFAULT now()
);

-- Browser sessions. Only a SHA-256 of the cookie value is stored, so a read
-- of this table does not hand out live sessions.
CREATE TABLE sessions (
    token_hash   bytea PRIMARY KEY,
    operator_id  bigint NOT NULL REFERENCES operators (operator_id) ON DELETE CASCADE,
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_operator_idx ON sessions (operator_id);

-- API tokens for integrations: same roles as operators.
CREATE TABLE api_tokens (
    token_id     bigserial PRIMARY KEY,
    token_hash   bytea NOT NULL UNIQUE,
    name         text NOT NULL,
    role         text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- One-time enrolment tokens, bound to a site, stored hashed.
CREATE TABLE enrolment_tokens (
    token_hash  bytea PRIMARY KEY,
    site_id     text NOT NULL REFERENCES sites (site_id),
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    used_by     text
);

ALTER TABLE agents
    ADD COLUMN revoked_at     timestamptz,
    ADD COLUMN cert_serial    text,
    ADD COLUMN cert_not_after timestamptz,
    ADD COLUMN enrolled_at    timestamptz;

-- Append-only, hash-chained: hash = SHA-256(prev_hash || canonical fields).
-- `onshi-server audit verify` recomputes the chain.
CREATE TABLE audit_log (
    audit_id  bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL,
    action    text NOT NULL,
    target    text NOT NULL DEFAULT '',
    outcome   text NOT NULL CHECK (outcome IN ('ok', 'denied', 'failed')),
    detail    jsonb NOT NULL DEFAULT '{}',
    remote    text NOT NULL DEFAULT '',
    prev_hash bytea NOT NULL,
    hash      bytea NOT NULL
);
CREATE INDEX audit_log_action_idx ON audit_log (action, at);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, at);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
