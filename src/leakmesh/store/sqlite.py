"""The embedded datastore: SQLite (stdlib `sqlite3`, WAL). One connection, used
from the event loop's thread: local calls are fast enough not to need a pool."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from leakmesh.store.errors import SchemaError, StaleFence, StoreError, StoreUnavailable
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
    ShardFence,
    StoredFinding,
    TriageEvent,
    TriageStatus,
    UpsertCounts,
    now,
)
from leakmesh.store.queries import load_queries

DIALECT = "sqlite"
Q = load_queries(DIALECT)


class SqliteDatastore:
    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @classmethod
    async def open(
        cls, path: Path, *, policy: MigrationPolicy = MigrationPolicy.VALIDATE
    ) -> SqliteDatastore:
        """Open and apply the schema policy: fail closed unless the schema is current."""
        store = await cls.connect(path)
        try:
            if policy is MigrationPolicy.DEV_AUTO_MIGRATE:
                await store.migrate()
            await store.check()
        except BaseException:
            await store.close()
            raise
        return store

    @classmethod
    async def connect(cls, path: Path) -> SqliteDatastore:
        """Open without looking at the schema (for `db status` and `db migrate`)."""
        try:
            connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open SQLite datastore {path}: {exc}") from None
        return cls(connection, path)

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
        exists = self._db.execute(Q["table_exists"], (MIGRATIONS_TABLE,)).fetchone()
        if not exists:
            return []
        rows = self._db.execute(Q["applied_migrations"])
        return [AppliedMigration(int(v), str(n), str(c)) for v, n, c in rows]

    async def status(self) -> SchemaStatus:
        return compare(self._applied(), embedded_migrations(DIALECT))

    async def check(self) -> None:
        (await self.status()).require_ok(f"SQLite datastore {self.path}")

    async def migrate(self) -> list[int]:
        """Apply the pending migrations; returns the versions applied."""
        status = await self.status()
        if status.problems:
            raise SchemaError(f"SQLite datastore {self.path}: {status.describe()}")
        applied = []
        for migration in status.pending:
            with self._transaction() as cursor:
                cursor.execute(Q["create_migrations_table"])
                for statement in _statements(migration.sql):
                    cursor.execute(statement)
                cursor.execute(
                    Q["record_migration"],
                    (migration.version, migration.name, migration.checksum, now()),
                )
            applied.append(migration.version)
        return applied

    async def hold_fence(self, fence: ShardFence) -> None:
        with self._transaction() as cursor:
            _hold(cursor, fence)

    async def start_run(self, *, tenant: str, policy_hash: str, source: str, target: str) -> int:
        with self._transaction() as cursor:
            cursor.execute(Q["start_run"], (tenant, policy_hash, source, target, now()))
            return int(cursor.lastrowid or 0)

    async def finish_run(self, run_id: int) -> None:
        with self._transaction() as cursor:
            cursor.execute(Q["finish_run"], (now(), run_id))
            if cursor.rowcount != 1:
                raise StoreError(f"unknown run {run_id}")

    async def upsert(
        self, occurrences: Sequence[OccurrenceRecord], context: ObservationContext
    ) -> UpsertCounts:
        stamp = now()
        keys = [
            (o.tenant, o.fingerprint, o.repo, o.object_id, o.start, o.end, o.path, o.commit)
            for o in occurrences
        ]
        with self._transaction() as cursor:
            _hold(cursor, context.shard)
            cursor.executemany(
                Q["insert_finding"],
                [(*o.finding_columns(), stamp, stamp) for o in occurrences],
            )
            new_findings = cursor.rowcount
            cursor.executemany(
                Q["touch_finding"], [(stamp, o.tenant, o.fingerprint) for o in occurrences]
            )
            cursor.executemany(
                Q["insert_occurrence"],
                [(*key, *o.detail_columns()) for key, o in zip(keys, occurrences, strict=True)],
            )
            new_occurrences = cursor.rowcount
            ids = [cursor.execute(Q["occurrence_id"], key).fetchone()[0] for key in keys]
            cursor.executemany(
                Q["insert_observation"],
                [(oid, context.run_id, context.policy_hash, context.fence, stamp) for oid in ids],
            )
            new_observations = cursor.rowcount
        return UpsertCounts(max(new_findings, 0), max(new_occurrences, 0), max(new_observations, 0))

    async def list_findings(self, query: FindingQuery) -> list[StoredFinding]:
        rows = self._db.execute(
            Q["list_findings"],
            {
                "tenant": query.tenant,
                "status": query.status.value if query.status is not None else None,
                "rule_id": query.rule_id,
                "repo": query.repo,
                "run_id": query.run_id,
                "limit": query.limit,
            },
        )
        return [
            StoredFinding(
                t, fp, rule, name, conf, preview, TriageStatus(status), first, last, int(n)
            )
            for t, fp, rule, name, conf, preview, status, first, last, n in rows
        ]

    async def occurrences(self, tenant: str, fingerprint: str) -> list[OccurrenceRecord]:
        rows = self._db.execute(Q["occurrences"], (tenant, fingerprint))
        return [OccurrenceRecord(*row) for row in rows]

    async def triage(
        self, tenant: str, fingerprint: str, status: TriageStatus, *, note: str = ""
    ) -> None:
        with self._transaction() as cursor:
            cursor.execute(Q["set_status"], (status.value, tenant, fingerprint))
            if cursor.rowcount != 1:
                raise StoreError(f"no finding with fingerprint {fingerprint}")
            cursor.execute(
                Q["insert_triage_event"], (tenant, fingerprint, status.value, note, now())
            )

    async def triage_history(self, tenant: str, fingerprint: str) -> list[TriageEvent]:
        rows = self._db.execute(Q["triage_history"], (tenant, fingerprint))
        return [TriageEvent(t, fp, TriageStatus(s), note, at) for t, fp, s, note, at in rows]

    async def mark(
        self,
        tenant: str,
        policy_hash: str,
        statuses: Mapping[str, LedgerStatus],
        *,
        fence: ShardFence | None = None,
    ) -> None:
        stamp = now()
        with self._transaction() as cursor:
            _hold(cursor, fence)
            cursor.executemany(
                Q["mark_ledger"],
                [
                    (tenant, policy_hash, oid, int(status), stamp)
                    for oid, status in statuses.items()
                ],
            )

    async def lookup(
        self, tenant: str, policy_hash: str, object_ids: Sequence[str]
    ) -> dict[str, LedgerStatus]:
        rows = self._db.execute(
            Q["lookup_ledger"], (tenant, policy_hash, json.dumps(list(object_ids)))
        )
        return {str(oid): LedgerStatus(status) for oid, status in rows}

    async def tips(self, tenant: str, repo: str) -> dict[str, str]:
        rows = self._db.execute(Q["frontier_tips"], (tenant, repo))
        return {str(ref): str(tip) for ref, tip in rows}

    async def advance(
        self,
        tenant: str,
        repo: str,
        tips: Mapping[str, str],
        *,
        fence: ShardFence | None = None,
    ) -> None:
        stamp = now()
        with self._transaction() as cursor:
            _hold(cursor, fence)
            cursor.executemany(
                Q["advance_frontier"],
                [(tenant, repo, ref, tip, stamp) for ref, tip in tips.items()],
            )

    async def export_rows(self, table: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self._db.execute(Q[f"export_{table}"])]

    async def import_rows(self, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
        with self._transaction() as cursor:
            cursor.executemany(Q[f"import_{table}"], rows)

    async def after_import(self) -> None:
        return None  # AUTOINCREMENT continues after the largest id present

    async def close(self) -> None:
        self._db.close()


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (no ';' inside string literals in our files)."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]


def _hold(cursor: sqlite3.Cursor, fence: ShardFence | None) -> None:
    """Check and raise the shard fence inside the caller's transaction."""
    if fence is None:
        return
    cursor.execute(
        Q["hold_fence"], (fence.tenant, fence.run_id, fence.shard_id, fence.epoch, now())
    )
    if cursor.fetchone() is None:
        raise StaleFence.of(fence)
