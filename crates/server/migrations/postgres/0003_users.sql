-- Local users of the dashboard. `id` is a stable, opaque key (UUID) so that sessions,
-- the audit log (`user:<id>`) and a later rename all refer to the same row; the username
-- is what people type. Usernames are restricted to ASCII by the application, so
-- lower() behaves exactly as in the SQLite flavour. Passwords are stored as argon2id PHC
-- strings only.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL CHECK (length(username) BETWEEN 1 AND 64),
    display_name  TEXT NOT NULL DEFAULT '',
    role          TEXT NOT NULL CHECK (role IN ('admin', 'auditor', 'viewer')),
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX users_username ON users (lower(username));
