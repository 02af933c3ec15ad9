-- leakmesh datastore, SQLite dialect: runs, the three-level finding model,
-- triage history, the done-ledger and the git frontier. No raw secrets.

CREATE TABLE runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant       TEXT NOT NULL,
    policy_hash  TEXT NOT NULL,
    source       TEXT NOT NULL,
    target       TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT
);

CREATE TABLE findings (
    tenant       TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    rule_id      TEXT NOT NULL,
    rule_name    TEXT NOT NULL,
    confidence   TEXT NOT NULL,
    preview      TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'open',
    first_seen   TEXT NOT NULL,
    last_seen    TEXT NOT NULL,
    PRIMARY KEY (tenant, fingerprint)
);
CREATE INDEX findings_by_rule ON findings (tenant, rule_id);
CREATE INDEX findings_by_status ON findings (tenant, status);

CREATE TABLE occurrences (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant        TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    repo          TEXT NOT NULL,
    object_id     TEXT NOT NULL,
    start_offset  INTEGER NOT NULL,
    end_offset    INTEGER NOT NULL,
    path          TEXT NOT NULL,
    line          INTEGER NOT NULL,
    col           INTEGER NOT NULL,
    commit_id     TEXT NOT NULL,
    author_name   TEXT NOT NULL,
    author_email  TEXT NOT NULL,
    commit_date   TEXT NOT NULL,
    decoded       TEXT NOT NULL,
    UNIQUE (tenant, fingerprint, repo, object_id, start_offset, end_offset, path, commit_id),
    FOREIGN KEY (tenant, fingerprint) REFERENCES findings (tenant, fingerprint)
);
CREATE INDEX occurrences_by_finding ON occurrences (tenant, fingerprint);
CREATE INDEX occurrences_by_repo ON occurrences (tenant, repo);

CREATE TABLE observations (
    occurrence_id  INTEGER NOT NULL REFERENCES occurrences (id),
    run_id         INTEGER NOT NULL REFERENCES runs (id),
    policy_hash    TEXT NOT NULL,
    fence          INTEGER NOT NULL,
    observed_at    TEXT NOT NULL,
    PRIMARY KEY (occurrence_id, run_id, policy_hash)
);
CREATE INDEX observations_by_run ON observations (run_id);

CREATE TABLE triage_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant       TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    status       TEXT NOT NULL,
    note         TEXT NOT NULL,
    at           TEXT NOT NULL,
    FOREIGN KEY (tenant, fingerprint) REFERENCES findings (tenant, fingerprint)
);

CREATE TABLE done_ledger (
    tenant       TEXT NOT NULL,
    policy_hash  TEXT NOT NULL,
    object_id    TEXT NOT NULL,
    status       INTEGER NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (tenant, policy_hash, object_id)
) WITHOUT ROWID;

CREATE TABLE git_frontier (
    tenant      TEXT NOT NULL,
    repo        TEXT NOT NULL,
    ref         TEXT NOT NULL,
    tip         TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant, repo, ref)
) WITHOUT ROWID;
