-- Queries of the PostgreSQL datastore (`postgres.py`), by name. Placeholders are
-- psycopg's %s / %(name)s. Upserts COPY their rows into a temporary table; the
-- done-ledger's batches travel as one JSON text, small ones as one array per
-- column expanded server-side with unnest(), so a batch of any size is one
-- statement.

-- name: lock_migrations
-- Transaction-scoped advisory lock (key: "leakmesh" as a bigint), so concurrent
-- migrators apply each migration once; released at commit or rollback.
SELECT pg_advisory_xact_lock(7810756242768753512)

-- name: create_migrations_table
CREATE TABLE IF NOT EXISTS leakmesh_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL
)

-- name: applied_migrations
SELECT version, name, checksum FROM leakmesh_migrations ORDER BY version

-- name: record_migration
INSERT INTO leakmesh_migrations (version, name, checksum, applied_at) VALUES (%s, %s, %s, now())

-- name: start_run
INSERT INTO runs (tenant, policy_hash, source, target, started_at)
VALUES (%s, %s, %s, %s, now())
RETURNING id

-- name: finish_run
UPDATE runs SET finished_at = now() WHERE id = %s
RETURNING id

-- name: create_upsert_batch
-- An upsert COPYs its rows into this session-private table, then moves them with
-- the three statements below (measured faster than unnest() of array parameters,
-- which psycopg dumps in Python and which the lookup would have to send twice).
-- seq keeps the caller's order: where rows repeat a key, the first one wins.
CREATE TEMP TABLE IF NOT EXISTS leakmesh_upsert_batch (
    seq           BIGINT NOT NULL,
    tenant        TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    rule_id       TEXT NOT NULL,
    rule_name     TEXT NOT NULL,
    confidence    TEXT NOT NULL,
    preview       TEXT NOT NULL,
    repo          TEXT NOT NULL,
    object_id     TEXT NOT NULL,
    start_offset  BIGINT NOT NULL,
    end_offset    BIGINT NOT NULL,
    path          TEXT NOT NULL,
    commit_id     TEXT NOT NULL,
    line          BIGINT NOT NULL,
    col           BIGINT NOT NULL,
    author_name   TEXT NOT NULL,
    author_email  TEXT NOT NULL,
    commit_date   TEXT NOT NULL,
    decoded       TEXT NOT NULL
) ON COMMIT DELETE ROWS

-- name: clear_upsert_batch
TRUNCATE leakmesh_upsert_batch

-- name: copy_upsert_batch
COPY leakmesh_upsert_batch (
    seq, tenant, fingerprint, rule_id, rule_name, confidence, preview, repo, object_id,
    start_offset, end_offset, path, commit_id, line, col, author_name, author_email,
    commit_date, decoded
) FROM STDIN

-- name: upsert_findings
-- Rows go in key order, so concurrent writers lock rows in one order and do not
-- deadlock each other; the conflict check goes through the primary key whatever
-- the planner's statistics say. A known finding gets last_seen = now() once per
-- transaction. Returns the count of findings created: a row created here has
-- first_seen = now() (the transaction's start); one updated here was created by an
-- earlier transaction; one created earlier in this transaction already has
-- last_seen = now(), so it is not updated again.
WITH upserted AS (
    INSERT INTO findings
        (tenant, fingerprint, rule_id, rule_name, confidence, preview, status,
         first_seen, last_seen)
    SELECT DISTINCT ON (tenant, fingerprint)
           tenant, fingerprint, rule_id, rule_name, confidence, preview, 'open', now(), now()
    FROM leakmesh_upsert_batch
    ORDER BY tenant, fingerprint, seq
    ON CONFLICT (tenant, fingerprint) DO UPDATE SET last_seen = excluded.last_seen
    WHERE findings.last_seen < excluded.last_seen
    RETURNING first_seen = now() AS created
)
SELECT count(*) FILTER (WHERE created) FROM upserted

-- name: insert_occurrences
-- Parameters: run id, policy hash, fence. Inserts the new occurrences (in key
-- order) and their observations; returns how many of each. Occurrences that
-- already existed get their observations from observe_occurrences.
WITH inserted AS (
    INSERT INTO occurrences
        (tenant, fingerprint, repo, object_id, start_offset, end_offset, path, commit_id,
         line, col, author_name, author_email, commit_date, decoded)
    SELECT DISTINCT ON (tenant, fingerprint, repo, object_id, start_offset, end_offset, path,
                        commit_id)
           tenant, fingerprint, repo, object_id, start_offset, end_offset, path, commit_id,
           line, col, author_name, author_email, commit_date, decoded
    FROM leakmesh_upsert_batch
    ORDER BY tenant, fingerprint, repo, object_id, start_offset, end_offset, path, commit_id, seq
    ON CONFLICT (tenant, fingerprint, repo, object_id, start_offset, end_offset, path, commit_id)
    DO NOTHING
    RETURNING id
), observed AS (
    INSERT INTO observations (occurrence_id, run_id, policy_hash, fence, observed_at)
    SELECT id, %s::bigint, %s::text, %s::bigint, now() FROM inserted
    ON CONFLICT (occurrence_id, run_id, policy_hash) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM observed)

-- name: observe_occurrences
-- Parameters: run id, policy hash, fence. One index probe per batch row (LATERAL …
-- LIMIT 1), never a scan of the table. repo is compared with IS NOT DISTINCT FROM
-- (the columns are NOT NULL: the same as =) on purpose: it keeps occurrences_by_repo
-- out of the probe. Without statistics (a young table) the planner rates that index
-- as selective as the unique key, and then reads a whole repository per key.
INSERT INTO observations (occurrence_id, run_id, policy_hash, fence, observed_at)
SELECT o.id, %s::bigint, %s::text, %s::bigint, now()
FROM leakmesh_upsert_batch AS k
CROSS JOIN LATERAL (
    SELECT o.id FROM occurrences AS o
    WHERE o.tenant = k.tenant AND o.fingerprint = k.fingerprint
      AND o.repo IS NOT DISTINCT FROM k.repo
      AND o.object_id = k.object_id AND o.start_offset = k.start_offset
      AND o.end_offset = k.end_offset AND o.path = k.path AND o.commit_id = k.commit_id
    LIMIT 1
) AS o
ON CONFLICT (occurrence_id, run_id, policy_hash) DO NOTHING

-- name: list_findings
-- Optional filters are NULL when unused.
SELECT f.tenant, f.fingerprint, f.rule_id, f.rule_name, f.confidence, f.preview, f.status,
       f.first_seen, f.last_seen, COUNT(o.id)
FROM findings f
JOIN occurrences o ON o.tenant = f.tenant AND o.fingerprint = f.fingerprint
WHERE o.tenant = %(tenant)s::text
  AND (%(status)s::text IS NULL OR f.status = %(status)s::text)
  AND (%(rule_id)s::text IS NULL OR f.rule_id = %(rule_id)s::text)
  AND (%(repo)s::text IS NULL OR o.repo = %(repo)s::text)
  AND (%(run_id)s::bigint IS NULL
       OR o.id IN (SELECT occurrence_id FROM observations WHERE run_id = %(run_id)s::bigint))
GROUP BY f.tenant, f.fingerprint
ORDER BY f.tenant, f.fingerprint
LIMIT %(limit)s::bigint

-- name: occurrences
SELECT o.tenant, o.fingerprint, f.rule_id, f.rule_name, f.confidence, f.preview, o.repo,
       o.object_id, o.start_offset, o.end_offset, o.path, o.line, o.col, o.commit_id,
       o.author_name, o.author_email, o.commit_date, o.decoded
FROM occurrences o
JOIN findings f ON o.tenant = f.tenant AND o.fingerprint = f.fingerprint
WHERE o.tenant = %s AND o.fingerprint = %s
ORDER BY o.repo, o.path, o.line, o.col, o.commit_id

-- name: set_status
UPDATE findings SET status = %s WHERE tenant = %s AND fingerprint = %s

-- name: insert_triage_event
INSERT INTO triage_events (tenant, fingerprint, status, note, at) VALUES (%s, %s, %s, %s, now())

-- name: triage_history
SELECT tenant, fingerprint, status, note, at FROM triage_events
WHERE tenant = %s AND fingerprint = %s ORDER BY id

-- name: ledger_scope
SELECT scope FROM ledger_scopes WHERE tenant = %s AND policy_hash = %s

-- name: ensure_ledger_scope
-- The no-op update makes RETURNING give the scope whether or not it was new.
INSERT INTO ledger_scopes (tenant, policy_hash) VALUES (%s, %s)
ON CONFLICT (tenant, policy_hash) DO UPDATE SET tenant = excluded.tenant
RETURNING scope

-- name: copy_ledger
-- The fast way to mark objects the ledger does not hold yet (a first scan marks
-- nothing else): a plain insert, about half the server's work of the upsert
-- below. A row that exists already fails it whole (see copy_new_ledger_rows).
COPY done_ledger (scope, object_id, status) FROM STDIN

-- name: mark_ledger
-- The batch is one JSON object {object_id: status}: psycopg sends a string as it
-- is, where it would dump a list element by element in Python (most of a fleet
-- worker's commit time). json, not jsonb, keeps the caller's order: the lock
-- order of concurrent writers. The status only moves upward.
INSERT INTO done_ledger (scope, object_id, status, updated_at)
SELECT %s::integer, u.key, u.value::smallint, now()
FROM json_each_text(%s::json) AS u
ON CONFLICT (scope, object_id) DO UPDATE
SET status = excluded.status, updated_at = excluded.updated_at
WHERE excluded.status > done_ledger.status

-- name: lookup_ledger
-- The ids are one JSON array (see mark_ledger), so one query serves any batch
-- size. A join, so that each id is one primary-key probe: `= ANY(ARRAY(SELECT …))`
-- is planned before the array is known and can compare every row with every id.
SELECT l.object_id, l.status
FROM json_array_elements_text(%(ids)s::json) AS u (object_id)
JOIN done_ledger AS l ON l.scope = %(scope)s AND l.object_id = u.object_id

-- name: frontier_tips
SELECT ref, tip FROM git_frontier WHERE tenant = %s AND repo = %s

-- name: advance_frontier
INSERT INTO git_frontier (tenant, repo, ref, tip, updated_at)
SELECT %s::text, %s::text, u.ref, u.tip, now()
FROM unnest(%s::text[], %s::text[]) AS u (ref, tip)
ON CONFLICT (tenant, repo, ref) DO UPDATE SET tip = excluded.tip, updated_at = excluded.updated_at

-- name: hold_fence
-- Raise the shard's fence to this epoch, or keep it: no row comes back when a
-- higher epoch is recorded (the caller then rolls back its whole transaction).
-- The row stays locked until commit, so a successor's raise waits for this write.
INSERT INTO shard_fences (tenant, run_id, shard_id, epoch, updated_at)
VALUES (%s, %s, %s, %s, now())
ON CONFLICT (tenant, run_id, shard_id) DO UPDATE
SET epoch = excluded.epoch, updated_at = excluded.updated_at
WHERE shard_fences.epoch <= excluded.epoch
RETURNING epoch

-- Table export and import for `leakmesh db copy` (ids kept: observations and
-- triage events refer to them; `after_import` moves the sequences past them).

-- name: export_runs
SELECT id, tenant, policy_hash, source, target, started_at, finished_at FROM runs ORDER BY id

-- name: import_runs
INSERT INTO runs (id, tenant, policy_hash, source, target, started_at, finished_at)
VALUES (%s, %s, %s, %s, %s, %s::timestamptz, %s::timestamptz)

-- name: export_findings
SELECT tenant, fingerprint, rule_id, rule_name, confidence, preview, status, first_seen, last_seen
FROM findings ORDER BY tenant, fingerprint

-- name: import_findings
INSERT INTO findings (tenant, fingerprint, rule_id, rule_name, confidence, preview, status, first_seen, last_seen)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s::timestamptz, %s::timestamptz)

-- name: export_occurrences
SELECT id, tenant, fingerprint, repo, object_id, start_offset, end_offset, path, line, col, commit_id,
       author_name, author_email, commit_date, decoded
FROM occurrences ORDER BY id

-- name: import_occurrences
INSERT INTO occurrences (id, tenant, fingerprint, repo, object_id, start_offset, end_offset, path, line, col,
                         commit_id, author_name, author_email, commit_date, decoded)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)

-- name: export_observations
SELECT occurrence_id, run_id, policy_hash, fence, observed_at FROM observations
ORDER BY occurrence_id, run_id, policy_hash

-- name: import_observations
INSERT INTO observations (occurrence_id, run_id, policy_hash, fence, observed_at)
VALUES (%s, %s, %s, %s, %s::timestamptz)

-- name: export_triage_events
SELECT id, tenant, fingerprint, status, note, at FROM triage_events ORDER BY id

-- name: import_triage_events
INSERT INTO triage_events (id, tenant, fingerprint, status, note, at) VALUES (%s, %s, %s, %s, %s, %s::timestamptz)

-- name: export_done_ledger
SELECT s.tenant, s.policy_hash, l.object_id, l.status, l.updated_at
FROM done_ledger AS l JOIN ledger_scopes AS s ON s.scope = l.scope
ORDER BY s.tenant, s.policy_hash, l.object_id

-- name: import_done_ledger
WITH scope AS (
    INSERT INTO ledger_scopes (tenant, policy_hash) VALUES (%s, %s)
    ON CONFLICT (tenant, policy_hash) DO UPDATE SET tenant = excluded.tenant
    RETURNING scope
)
INSERT INTO done_ledger (scope, object_id, status, updated_at)
SELECT scope, %s, %s, %s::timestamptz FROM scope

-- name: export_git_frontier
SELECT tenant, repo, ref, tip, updated_at FROM git_frontier ORDER BY tenant, repo, ref

-- name: import_git_frontier
INSERT INTO git_frontier (tenant, repo, ref, tip, updated_at) VALUES (%s, %s, %s, %s, %s::timestamptz)

-- name: export_shard_fences
SELECT tenant, run_id, shard_id, epoch, updated_at FROM shard_fences ORDER BY tenant, run_id, shard_id

-- name: import_shard_fences
INSERT INTO shard_fences (tenant, run_id, shard_id, epoch, updated_at) VALUES (%s, %s, %s, %s, %s::timestamptz)

-- name: reset_sequences
SELECT setval(pg_get_serial_sequence('runs', 'id'), COALESCE((SELECT MAX(id) FROM runs), 0) + 1, false),
       setval(pg_get_serial_sequence('occurrences', 'id'), COALESCE((SELECT MAX(id) FROM occurrences), 0) + 1, false),
       setval(pg_get_serial_sequence('triage_events', 'id'), COALESCE((SELECT MAX(id) FROM triage_events), 0) + 1, false)
