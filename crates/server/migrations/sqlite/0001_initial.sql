-- VT-Audit server schema, SQLite flavour. Timestamps are unix milliseconds (UTC) so that
-- comparisons are numeric; the PostgreSQL flavour uses timestamptz. Keep the two in step.

CREATE TABLE agents (
    id            TEXT PRIMARY KEY,
    machine_id    TEXT NOT NULL UNIQUE,
    hostname      TEXT NOT NULL,
    os            TEXT NOT NULL,
    os_version    TEXT NOT NULL,
    arch          TEXT NOT NULL,
    agent_version TEXT NOT NULL,
    enrolled_at   INTEGER NOT NULL,
    last_seen     INTEGER NOT NULL,
    status        TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked'))
);
CREATE INDEX agents_hostname ON agents (hostname COLLATE NOCASE);
CREATE INDEX agents_last_seen ON agents (last_seen);
CREATE INDEX agents_os ON agents (os);

CREATE TABLE enrollment_tokens (
    id           TEXT PRIMARY KEY,
    secret_hash  TEXT NOT NULL UNIQUE,
    label        TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    uses_allowed INTEGER NOT NULL CHECK (uses_allowed > 0),
    uses_count   INTEGER NOT NULL DEFAULT 0 CHECK (uses_count BETWEEN 0 AND uses_allowed),
    revoked      INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    key_hash   TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL CHECK (role IN ('admin', 'auditor', 'viewer')),
    label      TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
);

CREATE TABLE certificates (
    serial     TEXT PRIMARY KEY,
    agent_id   TEXT NOT NULL REFERENCES agents (id),
    not_before INTEGER NOT NULL,
    not_after  INTEGER NOT NULL,
    revoked_at INTEGER,
    reason     TEXT
);
CREATE INDEX certificates_agent ON certificates (agent_id);
CREATE INDEX certificates_revoked ON certificates (not_after) WHERE revoked_at IS NOT NULL;

CREATE TABLE used_otts (
    jti        TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX used_otts_expires ON used_otts (expires_at);

CREATE TABLE policies (
    policy_id      TEXT PRIMARY KEY,
    os             TEXT NOT NULL,
    latest_version INTEGER NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE policy_versions (
    policy_id      TEXT NOT NULL REFERENCES policies (policy_id),
    version        INTEGER NOT NULL CHECK (version > 0),
    os             TEXT NOT NULL,
    yaml_source    TEXT NOT NULL,
    canonical_json TEXT NOT NULL,
    hash           TEXT NOT NULL,
    author         TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (policy_id, version)
);
CREATE INDEX policy_versions_hash ON policy_versions (policy_id, hash);
-- Agents verify what they received against the hash; a version that changed after the
-- fact would break that promise, so the database itself refuses it.
CREATE TRIGGER policy_versions_immutable BEFORE UPDATE ON policy_versions
BEGIN
    SELECT RAISE(ABORT, 'policy versions are immutable');
END;

CREATE TABLE active_policies (
    os           TEXT PRIMARY KEY,
    policy_id    TEXT NOT NULL,
    version      INTEGER NOT NULL,
    activated_at INTEGER NOT NULL,
    FOREIGN KEY (policy_id, version) REFERENCES policy_versions (policy_id, version)
);

CREATE TABLE runs (
    run_id         TEXT PRIMARY KEY,
    agent_id       TEXT NOT NULL REFERENCES agents (id),
    policy_id      TEXT NOT NULL,
    policy_version INTEGER,
    policy_hash    TEXT NOT NULL,
    started_at     INTEGER NOT NULL,
    finished_at    INTEGER NOT NULL,
    received_at    INTEGER NOT NULL,
    pass_count     INTEGER NOT NULL,
    fail_count     INTEGER NOT NULL,
    error_count    INTEGER NOT NULL,
    na_count       INTEGER NOT NULL,
    score          REAL NOT NULL
);
CREATE INDEX runs_agent_finished ON runs (agent_id, finished_at);
CREATE INDEX runs_received ON runs (received_at);

CREATE TABLE check_results (
    run_id      TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    rule_id     TEXT NOT NULL CHECK (length(rule_id) BETWEEN 1 AND 128),
    title       TEXT NOT NULL CHECK (length(title) <= 512),
    severity    TEXT NOT NULL CHECK (severity IN ('info', 'low', 'medium', 'high', 'critical')),
    status      TEXT NOT NULL CHECK (status IN ('pass', 'fail', 'error', 'not_applicable')),
    expected    TEXT NOT NULL CHECK (length(expected) <= 8192),
    observed    TEXT NOT NULL CHECK (length(observed) <= 16384),
    reason      TEXT NOT NULL CHECK (length(reason) <= 8192),
    fix         TEXT NOT NULL CHECK (length(fix) <= 8192),
    duration_ms INTEGER NOT NULL CHECK (duration_ms >= 0),
    PRIMARY KEY (run_id, rule_id)
);

-- One row per agent, replaced in the run's transaction: host listings and fleet summaries
-- read this (O(agents)) instead of aggregating check_results.
CREATE TABLE agent_latest (
    agent_id       TEXT PRIMARY KEY REFERENCES agents (id),
    run_id         TEXT NOT NULL REFERENCES runs (run_id),
    policy_id      TEXT NOT NULL,
    policy_version INTEGER,
    policy_hash    TEXT NOT NULL,
    finished_at    INTEGER NOT NULL,
    pass_count     INTEGER NOT NULL,
    fail_count     INTEGER NOT NULL,
    error_count    INTEGER NOT NULL,
    na_count       INTEGER NOT NULL,
    score          REAL NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX agent_latest_score ON agent_latest (score);
CREATE INDEX agent_latest_run ON agent_latest (run_id);

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
