-- Local users of the dashboard. `id` is a stable, opaque key (UUID) so that sessions,
-- the audit log (`user:<id>`) and a later rename all refer to the same row; the username
-- is what people type. Usernames are restricted to ASCII by the application, so
-- lower() (ASCII-only in SQLite) gives the same case-insensitive uniqueness as in
-- PostgreSQL. Passwords are stored as argon2id PHC strings only.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL CHECK (length(username) BETWEEN 1 AND 64),
    display_name  TEXT NOT NULL DEFAULT '',
    role          TEXT NOT NULL CHECK (role IN ('admin', 'auditor', 'viewer')),
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))
);
CREATE UNIQUE INDEX users_username ON users (lower(username));
