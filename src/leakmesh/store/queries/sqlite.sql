-- Queries of the SQLite datastore (`sqlite.py`), by name.

-- name: table_exists
SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?

-- name: create_migrations_table
CREATE TABLE IF NOT EXISTS leakmesh_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TEXT NOT NULL
)

-- name: applied_migrations
SELECT version, name, checksum FROM leakmesh_migrations ORDER BY version

-- name: record_migration
INSERT INTO leakmesh_migrations VALUES (?, ?, ?, ?)

-- name: start_run
INSERT INTO runs (tenant, policy_hash, source, target, started_at) VALUES (?, ?, ?, ?, ?)

-- name: finish_run
UPDATE runs SET finished_at = ? WHERE id = ?

-- name: insert_finding
INSERT OR IGNORE INTO findings
    (tenant, fingerprint, rule_id, rule_name, confidence, preview, status, first_seen, last_seen)
VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?)

-- name: touch_finding
UPDATE findings SET last_seen = ? WHERE tenant = ? AND fingerprint = ?

-- name: insert_occurrence
INSERT OR IGNORE INTO occurrences
    (tenant, fingerprint, repo, object_id, start_offset, end_offset, path, commit_id,
     line, col, author_name, author_email, commit_date, decoded)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)

-- name: occurrence_id
SELECT id FROM occurrences
WHERE tenant = ? AND fingerprint = ? AND repo = ? AND object_id = ?
  AND start_offset = ? AND end_offset = ? AND path = ? AND commit_id = ?

-- name: insert_observation
INSERT OR IGNORE INTO observations VALUES (?, ?, ?, ?, ?)

-- name: list_findings
-- Optional filters are NULL when unused.
SELECT f.tenant, f.fingerprint, f.rule_id, f.rule_name, f.confidence, f.preview, f.status,
       f.first_seen, f.last_seen, COUNT(o.id)
FROM findings f
JOIN occurrences o ON o.tenant = f.tenant AND o.fingerprint = f.fingerprint
WHERE o.tenant = :tenant
  AND (:status IS NULL OR f.status = :status)
  AND (:rule_id IS NULL OR f.rule_id = :rule_id)
  AND (:repo IS NULL OR o.repo = :repo)
  AND (:run_id IS NULL OR o.id IN (SELECT occurrence_id FROM observations WHERE run_id = :run_id))
GROUP BY f.tenant, f.fingerprint
ORDER BY f.tenant, f.fingerprint
LIMIT :limit

-- name: occurrences
SELECT o.tenant, o.fingerprint, f.rule_id, f.rule_name, f.confidence, f.preview, o.repo,
       o.object_id, o.start_offset, o.end_offset, o.path, o.line, o.col, o.commit_id,
       o.author_name, o.author_email, o.commit_date, o.decoded
FROM occurrences o
JOIN findings f ON o.tenant = f.tenant AND o.fingerprint = f.fingerprint
WHERE o.tenant = ? AND o.fingerprint = ?
ORDER BY o.repo, o.path, o.line, o.col, o.commit_id

-- name: set_status
UPDATE findings SET status = ? WHERE tenant = ? AND fingerprint = ?

-- name: insert_triage_event
INSERT INTO triage_events (tenant, fingerprint, status, note, at) VALUES (?, ?, ?, ?, ?)

-- name: triage_history
SELECT tenant, fingerprint, status, note, at FROM triage_events
WHERE tenant = ? AND fingerprint = ? ORDER BY id

-- name: mark_ledger
-- The status only moves upward.
INSERT INTO done_ledger VALUES (?, ?, ?, ?, ?)
ON CONFLICT (tenant, policy_hash, object_id) DO UPDATE
SET status = excluded.status, updated_at = excluded.updated_at
WHERE excluded.status > done_ledger.status

-- name: lookup_ledger
-- The id list is a JSON array, so one query serves any batch size.
SELECT object_id, status FROM done_ledger
WHERE tenant = ? AND policy_hash = ? AND object_id IN (SELECT value FROM json_each(?))

-- name: frontier_tips
SELECT ref, tip FROM git_frontier WHERE tenant = ? AND repo = ?

-- name: advance_frontier
INSERT INTO git_frontier VALUES (?, ?, ?, ?, ?)
ON CONFLICT (tenant, repo, ref) DO UPDATE SET tip = excluded.tip, updated_at = excluded.updated_at

-- Table export and import for `leakmesh db copy` (ids kept: observations and
-- triage events refer to them).

-- name: hold_fence
-- Raise the shard's fence to this epoch, or keep it: no row comes back when a
-- higher epoch is recorded (the caller then rolls back its whole transaction).
INSERT INTO shard_fences (tenant, run_id, shard_id, epoch, updated_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (tenant, run_id, shard_id) DO UPDATE
SET epoch = excluded.epoch, updated_at = excluded.updated_at
WHERE shard_fences.epoch <= excluded.epoch
RETURNING epoch

-- name: export_runs
SELECT id, tenant, policy_hash, source, target, started_at, finished_at FROM runs ORDER BY id

-- name: import_runs
INSERT INTO runs (id, tenant, policy_hash, source, target, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?)

-- name: export_findings
SELECT tenant, fingerprint, rule_id, rule_name, confidence, preview, status, first_seen, last_seen
FROM findings ORDER BY tenant, fingerprint

-- name: import_findings
INSERT INTO findings (tenant, fingerprint, rule_id, rule_name, confidence, preview, status, first_seen, last_seen)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)

-- name: export_occurrences
SELECT id, tenant, fingerprint, repo, object_id, start_offset, end_offset, path, line, col, commit_id,
       author_name, author_email, commit_date, decoded
FROM occurrences ORDER BY id

-- name: import_occurrences
INSERT INTO occurrences (id, tenant, fingerprint, repo, object_id, start_offset, end_offset, path, line, col,
                         commit_id, author_name, author_email, commit_date, decoded)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)

-- name: export_observations
SELECT occurrence_id, run_id, policy_hash, fence, observed_at FROM observations
ORDER BY occurrence_id, run_id, policy_hash

-- name: import_observations
INSERT INTO observations (occurrence_id, run_id, policy_hash, fence, observed_at) VALUES (?, ?, ?, ?, ?)

-- name: export_triage_events
SELECT id, tenant, fingerprint, status, note, at FROM triage_events ORDER BY id

-- name: import_triage_events
INSERT INTO triage_events (id, tenant, fingerprint, status, note, at) VALUES (?, ?, ?, ?, ?, ?)

-- name: export_done_ledger
SELECT tenant, policy_hash, object_id, status, updated_at FROM done_ledger
ORDER BY tenant, policy_hash, object_id

-- name: import_done_ledger
INSERT INTO done_ledger (tenant, policy_hash, object_id, status, updated_at) VALUES (?, ?, ?, ?, ?)

-- name: export_git_frontier
SELECT tenant, repo, ref, tip, updated_at FROM git_frontier ORDER BY tenant, repo, ref

-- name: import_git_frontier
INSERT INTO git_frontier (tenant, repo, ref, tip, updated_at) VALUES (?, ?, ?, ?, ?)

-- name: export_shard_fences
SELECT tenant, run_id, shard_id, epoch, updated_at FROM shard_fences ORDER BY tenant, run_id, shard_id

-- name: import_shard_fences
INSERT INTO shard_fences (tenant, run_id, shard_id, epoch, updated_at) VALUES (?, ?, ?, ?, ?)
