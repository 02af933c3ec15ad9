-- leakmesh datastore, PostgreSQL dialect: runs, the three-level finding model,
-- triage history, the done-ledger and the git frontier. No raw secrets.
-- The same tables, keys and indexes as the SQLite dialect. Text compares byte by
-- byte (COLLATE "C", like SQLite's BINARY), so every backend orders alike and the
-- key indexes need no locale-aware comparisons.

CREATE TABLE runs (
    id           BIGSERIAL PRIMARY KEY,
    tenant       TEXT COLLATE "C" NOT NULL,
    policy_hash  TEXT COLLATE "C" NOT NULL,
    source       TEXT COLLATE "C" NOT NULL,
    target       TEXT COLLATE "C" NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ
);

CREATE TABLE findings (
    tenant       TEXT COLLATE "C" NOT NULL,
    fingerprint  TEXT COLLATE "C" NOT NULL,
    rule_id      TEXT COLLATE "C" NOT NULL,
    rule_name    TEXT COLLATE "C" NOT NULL,
    confidence   TEXT COLLATE "C" NOT NULL,
    preview      TEXT COLLATE "C" NOT NULL,
    status       TEXT COLLATE "C" NOT NULL DEFAULT 'open',
    first_seen   TIMESTAMPTZ NOT NULL,
    last_seen    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, fingerprint)
);
CREATE INDEX findings_by_rule ON findings (tenant, rule_id);
CREATE INDEX findings_by_status ON findings (tenant, status);

CREATE TABLE occurrences (
    id            BIGSERIAL PRIMARY KEY,
    tenant        TEXT COLLATE "C" NOT NULL,
    fingerprint   TEXT COLLATE "C" NOT NULL,
    repo          TEXT COLLATE "C" NOT NULL,
    object_id     TEXT COLLATE "C" NOT NULL,
    start_offset  BIGINT NOT NULL,
    end_offset    BIGINT NOT NULL,
    path          TEXT COLLATE "C" NOT NULL,
    line          BIGINT NOT NULL,
    col           BIGINT NOT NULL,
    commit_id     TEXT COLLATE "C" NOT NULL,
    author_name   TEXT COLLATE "C" NOT NULL,
    author_email  TEXT COLLATE "C" NOT NULL,
    commit_date   TEXT COLLATE "C" NOT NULL,
    decoded       TEXT COLLATE "C" NOT NULL,
    UNIQUE (tenant, fingerprint, repo, object_id, start_offset, end_offset, path, commit_id),
    FOREIGN KEY (tenant, fingerprint) REFERENCES findings (tenant, fingerprint)
);
CREATE INDEX occurrences_by_finding ON occurrences (tenant, fingerprint);
CREATE INDEX occurrences_by_repo ON occurrences (tenant, repo);

CREATE TABLE observations (
    occurrence_id  BIGINT NOT NULL REFERENCES occurrences (id),
    run_id         BIGINT NOT NULL REFERENCES runs (id),
    policy_hash    TEXT COLLATE "C" NOT NULL,
    fence          BIGINT NOT NULL,
    observed_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (occurrence_id, run_id, policy_hash)
);
CREATE INDEX observations_by_run ON observations (run_id);

CREATE TABLE triage_events (
    id           BIGSERIAL PRIMARY KEY,
    tenant       TEXT COLLATE "C" NOT NULL,
    fingerprint  TEXT COLLATE "C" NOT NULL,
    status       TEXT COLLATE "C" NOT NULL,
    note         TEXT COLLATE "C" NOT NULL,
    at           TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (tenant, fingerprint) REFERENCES findings (tenant, fingerprint)
);

CREATE TABLE done_ledger (
    tenant       TEXT COLLATE "C" NOT NULL,
    policy_hash  TEXT COLLATE "C" NOT NULL,
    object_id    TEXT COLLATE "C" NOT NULL,
    status       SMALLINT NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, policy_hash, object_id)
);

CREATE TABLE git_frontier (
    tenant      TEXT COLLATE "C" NOT NULL,
    repo        TEXT COLLATE "C" NOT NULL,
    ref         TEXT COLLATE "C" NOT NULL,
    tip         TEXT COLLATE "C" NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, repo, ref)
);
