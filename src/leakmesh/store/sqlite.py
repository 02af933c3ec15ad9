"""The embedded datastore: SQLite (stdlib `sqlite3`, WAL). One connection, used
from the event loop's thread: local calls are fast enough not to need a pool."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from leakmesh.store.errors import SchemaError, StoreError, StoreUnavailable
from leakmesh.store.memory import now
from leakmesh.store.migrate import (
    MIGRATIONS_TABLE,
    AppliedMigration,
    MigrationPolicy,
    SchemaStatus,
    compare,
    embedded_migrations,
)
from leakmesh.store.models import (
    FindingQuery,
    LedgerStatus,
    ObservationContext,
    OccurrenceRecord,
    StoredFinding,
    TriageEvent,
    TriageStatus,
    UpsertCounts,
)

DIALECT = "sqlite"
LOOKUP_CHUNK = 500
"""Ids per IN (...) query; SQLite limits bound parameters."""

_OCCURRENCE_KEY = "tenant, fingerprint, repo, object_id, start_offset, end_offset, path, commit_id"


class SqliteDatastore:
    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @classmethod
    async def open(
        cls, path: Path, *, policy: MigrationPolicy = MigrationPolicy.VALIDATE
    ) -> SqliteDatastore:
        try:
            connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open SQLite datastore {path}: {exc}") from None
        store = cls(connection, path)
        if policy is MigrationPolicy.DEV_AUTO_MIGRATE:
            await store.migrate()
        status = await store.status()
        if not status.ok:
            connection.close()
            raise SchemaError(f"SQLite datastore {path}: {status.describe()}")
        return store

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        cursor = self._db.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
            yield cursor
            cursor.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise StoreError(f"SQLite datastore {self.path}: {exc}") from None
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def _applied(self) -> list[AppliedMigration]:
        exists = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (MIGRATIONS_TABLE,)
        ).fetchone()
        if not exists:
            return []
        rows = self._db.execute(
            f"SELECT version, name, checksum FROM {MIGRATIONS_TABLE} ORDER BY version"
        )
        return [AppliedMigration(int(v), str(n), str(c)) for v, n, c in rows]

    async def status(self) -> SchemaStatus:
        return compare(self._applied(), embedded_migrations(DIALECT))

    async def migrate(self) -> list[int]:
        """Apply the pending migrations; returns the versions applied."""
        status = await self.status()
        if status.problems:
            raise SchemaError(f"SQLite datastore {self.path}: {status.describe()}")
        applied = []
        for migration in status.pending:
            with self._transaction() as cursor:
                cursor.execute(
                    f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (version INTEGER PRIMARY KEY, "
                    "name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)"
                )
                for statement in _statements(migration.sql):
                    cursor.execute(statement)
                cursor.execute(
                    f"INSERT INTO {MIGRATIONS_TABLE} VALUES (?, ?, ?, ?)",
                    (migration.version, migration.name, migration.checksum, now()),
                )
            applied.append(migration.version)
        return applied

    async def start_run(self, *, tenant: str, policy_hash: str, source: str, target: str) -> int:
        with self._transaction() as cursor:
            cursor.execute(
                "INSERT INTO runs (tenant, policy_hash, source, target, started_at) VALUES (?, ?, ?, ?, ?)",
                (tenant, policy_hash, source, target, now()),
            )
            return int(cursor.lastrowid or 0)

    async def finish_run(self, run_id: int) -> None:
        with self._transaction() as cursor:
            cursor.execute("UPDATE runs SET finished_at = ? WHERE id = ?", (now(), run_id))
            if cursor.rowcount != 1:
                raise StoreError(f"unknown run {run_id}")

    async def upsert(
        self, occurrences: Sequence[OccurrenceRecord], context: ObservationContext
    ) -> UpsertCounts:
        stamp = now()
        with self._transaction() as cursor:
            cursor.executemany(
                "INSERT OR IGNORE INTO findings (tenant, fingerprint, rule_id, rule_name, confidence, "
                "preview, status, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?)",
                [
                    (
                        o.tenant,
                        o.fingerprint,
                        o.rule_id,
                        o.rule_name,
                        o.confidence,
                        o.preview,
                        stamp,
                        stamp,
                    )
                    for o in occurrences
                ],
            )
            new_findings = cursor.rowcount
            cursor.executemany(
                "UPDATE findings SET last_seen = ? WHERE tenant = ? AND fingerprint = ?",
                [(stamp, o.tenant, o.fingerprint) for o in occurrences],
            )
            cursor.executemany(
                f"INSERT OR IGNORE INTO occurrences ({_OCCURRENCE_KEY}, line, col, author_name, "
                "author_email, commit_date, decoded) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        o.tenant,
                        o.fingerprint,
                        o.repo,
                        o.object_id,
                        o.start,
                        o.end,
                        o.path,
                        o.commit,
                        o.line,
                        o.column,
                        o.author_name,
                        o.author_email,
                        o.commit_date,
                        o.decoded,
                    )
                    for o in occurrences
                ],
            )
            new_occurrences = cursor.rowcount
            ids = [
                cursor.execute(
                    f"SELECT id FROM occurrences WHERE ({_OCCURRENCE_KEY}) = (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        o.tenant,
                        o.fingerprint,
                        o.repo,
                        o.object_id,
                        o.start,
                        o.end,
                        o.path,
                        o.commit,
                    ),
                ).fetchone()[0]
                for o in occurrences
            ]
            cursor.executemany(
                "INSERT OR IGNORE INTO observations VALUES (?, ?, ?, ?, ?)",
                [(oid, context.run_id, context.policy_hash, context.fence, stamp) for oid in ids],
            )
            new_observations = cursor.rowcount
        return UpsertCounts(max(new_findings, 0), max(new_occurrences, 0), max(new_observations, 0))

    async def list_findings(self, query: FindingQuery) -> list[StoredFinding]:
        where = ["o.tenant = ?"]
        params: list[object] = [query.tenant]
        if query.status is not None:
            where.append("f.status = ?")
            params.append(query.status.value)
        if query.rule_id is not None:
            where.append("f.rule_id = ?")
            params.append(query.rule_id)
        if query.repo is not None:
            where.append("o.repo = ?")
            params.append(query.repo)
        if query.run_id is not None:
            where.append("o.id IN (SELECT occurrence_id FROM observations WHERE run_id = ?)")
            params.append(query.run_id)
        params.append(query.limit)
        rows = self._db.execute(
            "SELECT f.tenant, f.fingerprint, f.rule_id, f.rule_name, f.confidence, f.preview, f.status, "
            "f.first_seen, f.last_seen, COUNT(o.id) FROM findings f JOIN occurrences o "
            "ON o.tenant = f.tenant AND o.fingerprint = f.fingerprint "
            f"WHERE {' AND '.join(where)} GROUP BY f.tenant, f.fingerprint "
            "ORDER BY f.tenant, f.fingerprint LIMIT ?",
            params,
        )
        return [
            StoredFinding(
                t, fp, rule, name, conf, preview, TriageStatus(status), first, last, int(n)
            )
            for t, fp, rule, name, conf, preview, status, first, last, n in rows
        ]

    async def occurrences(self, tenant: str, fingerprint: str) -> list[OccurrenceRecord]:
        rows = self._db.execute(
            "SELECT o.tenant, o.fingerprint, f.rule_id, f.rule_name, f.confidence, f.preview, o.repo, "
            "o.object_id, o.start_offset, o.end_offset, o.path, o.line, o.col, o.commit_id, "
            "o.author_name, o.author_email, o.commit_date, o.decoded FROM occurrences o JOIN findings f "
            "ON o.tenant = f.tenant AND o.fingerprint = f.fingerprint "
            "WHERE o.tenant = ? AND o.fingerprint = ? ORDER BY o.repo, o.path, o.line, o.col, o.commit_id",
            (tenant, fingerprint),
        )
        return [OccurrenceRecord(*row) for row in rows]

    async def triage(
        self, tenant: str, fingerprint: str, status: TriageStatus, *, note: str = ""
    ) -> None:
        with self._transaction() as cursor:
            cursor.execute(
                "UPDATE findings SET status = ? WHERE tenant = ? AND fingerprint = ?",
                (status.value, tenant, fingerprint),
            )
            if cursor.rowcount != 1:
                raise StoreError(f"no finding with fingerprint {fingerprint}")
            cursor.execute(
                "INSERT INTO triage_events (tenant, fingerprint, status, note, at) VALUES (?, ?, ?, ?, ?)",
                (tenant, fingerprint, status.value, note, now()),
            )

    async def triage_history(self, tenant: str, fingerprint: str) -> list[TriageEvent]:
        rows = self._db.execute(
            "SELECT tenant, fingerprint, status, note, at FROM triage_events "
            "WHERE tenant = ? AND fingerprint = ? ORDER BY id",
            (tenant, fingerprint),
        )
        return [TriageEvent(t, fp, TriageStatus(s), note, at) for t, fp, s, note, at in rows]

    async def mark(
        self, tenant: str, policy_hash: str, statuses: Mapping[str, LedgerStatus]
    ) -> None:
        stamp = now()
        with self._transaction() as cursor:
            cursor.executemany(
                "INSERT INTO done_ledger VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (tenant, policy_hash, object_id) DO UPDATE SET "
                "status = excluded.status, updated_at = excluded.updated_at "
                "WHERE excluded.status > done_ledger.status",
                [
                    (tenant, policy_hash, oid, int(status), stamp)
                    for oid, status in statuses.items()
                ],
            )

    async def lookup(
        self, tenant: str, policy_hash: str, object_ids: Sequence[str]
    ) -> dict[str, LedgerStatus]:
        found: dict[str, LedgerStatus] = {}
        for start in range(0, len(object_ids), LOOKUP_CHUNK):
            chunk = list(object_ids[start : start + LOOKUP_CHUNK])
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                "SELECT object_id, status FROM done_ledger WHERE tenant = ? AND policy_hash = ? "
                f"AND object_id IN ({marks})",
                [tenant, policy_hash, *chunk],
            )
            found.update((oid, LedgerStatus(status)) for oid, status in rows)
        return found

    async def tips(self, tenant: str, repo: str) -> dict[str, str]:
        rows = self._db.execute(
            "SELECT ref, tip FROM git_frontier WHERE tenant = ? AND repo = ?", (tenant, repo)
        )
        return {str(ref): str(tip) for ref, tip in rows}

    async def advance(self, tenant: str, repo: str, tips: Mapping[str, str]) -> None:
        stamp = now()
        with self._transaction() as cursor:
            cursor.executemany(
                "INSERT INTO git_frontier VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, repo, ref) "
                "DO UPDATE SET tip = excluded.tip, updated_at = excluded.updated_at",
                [(tenant, repo, ref, tip, stamp) for ref, tip in tips.items()],
            )

    async def close(self) -> None:
        self._db.close()


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (no ';' inside string literals in our files)."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]
