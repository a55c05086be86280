-- Portal hardening (issue 10 §4): forced password change, and login throttling per source
-- address as well as per account (design in docs/SECURITY.md).

-- Set when the password was handed out by someone else (a one-time password from the admin
-- page, the CLI or an admin reset): the next login must choose a new one before anything else.
ALTER TABLE operators ADD COLUMN must_change_password boolean NOT NULL DEFAULT false;

-- One row per failed login. Counted per source address (and per address + account) over a
-- short window, so guessing from one address is throttled there without locking the account
-- for everyone else. Rows older than the window are deleted as new ones arrive.
CREATE TABLE login_failures (
    failure_id bigserial PRIMARY KEY,
    remote     text NOT NULL,
    username   text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_remote_idx ON login_failures (remote, at);
CREATE INDEX login_failures_username_idx ON login_failures (username, at);
