"""The shared datastore: PostgreSQL through psycopg 3 (async) and a connection pool.

An upsert COPYs its rows into a session-private temporary table and moves them on
with three statements in one transaction (`pg_writes.py`); ledger batches travel
as one JSON text. Either way a batch of any size is a handful of statements.
Driver errors become `StoreError` / `StoreUnavailable` / `SchemaError` here, with
the DSN redacted and the password scrubbed from the driver's message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec
import psycopg
from psycopg.conninfo import conninfo_to_dict

from leakmesh.store.dsn import redact
from leakmesh.store.errors import SchemaError, StoreError
from leakmesh.store.migrate import (
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
)
from leakmesh.store.pg_boundary import dsn_password, translate, warn_if_unencrypted
from leakmesh.store.pg_connections import (
    DEFAULT_POOL,
    Connection,
    ConnectionSource,
    OneConnection,
    PooledConnections,
    PoolSize,
)
from leakmesh.store.pg_writes import (
    DIALECT,
    Cursor,
    Q,
    T,
    chunks,
    copy_new_ledger_rows,
    hold,
    iso,
    ledger_copy_rows,
    scalar,
    upsert_chunk,
)

if TYPE_CHECKING:
    from psycopg.rows import TupleRow

_CONNECT_TIMEOUT_S = 10
_UPSERT_CHUNK = 20_000
"""Rows per COPY inside one upsert transaction (bounds the temporary table)."""
_WRITE_ATTEMPTS = 3
_RETRY_STATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock
_UPSERTS_AFTER_CONFLICT = 16
"""Ledger batches sent straight to the upsert after one met a row already there:
where one did, the next ones likely do too (a rescan, another run's objects)."""
# Sorted keys: one lock order for concurrent writers (the same as `sorted()`).
_SORTED_JSON = msgspec.json.Encoder(order="sorted")


class PostgresDatastore:
    def __init__(self, connections: ConnectionSource, dsn: str) -> None:
        self._connections = connections
        self._dsn = dsn
        self._where = f"PostgreSQL datastore {redact(dsn)}"
        self._password = dsn_password(dsn)
        self._scopes: dict[tuple[str, str], int] = {}
        self._ledger_upserts_due = 0

    def __repr__(self) -> str:
        return f"PostgresDatastore({redact(self._dsn)!r})"

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        policy: MigrationPolicy = MigrationPolicy.VALIDATE,
        pool: PoolSize | None = DEFAULT_POOL,
    ) -> PostgresDatastore:
        """Connect and apply the schema policy: fail closed unless the schema is
        current. `pool=None`: one connection, for a user making one call at a time."""
        store = await cls.connect(dsn, pool=pool)
        try:
            if policy is MigrationPolicy.DEV_AUTO_MIGRATE:
                await store.migrate()
            # Just connected: the schema is all there is to check.
            (await store.status()).require_ok(store._where)
        except BaseException:
            await store.close()
            raise
        return store

    @classmethod
    async def connect(cls, dsn: str, *, pool: PoolSize | None = DEFAULT_POOL) -> PostgresDatastore:
        """Connect without looking at the schema (for `db status` and `db migrate`).
        Logs one warning when a non-local server is reached without required TLS."""
        warn_if_unencrypted(dsn)
        params = conninfo_to_dict(dsn)
        connect_args: dict[str, Any] = {"autocommit": True, "prepare_threshold": None}
        if "connect_timeout" not in params:
            connect_args["connect_timeout"] = _CONNECT_TIMEOUT_S
        where, password = f"PostgreSQL datastore {redact(dsn)}", dsn_password(dsn)
        try:
            # One direct attempt first: an unreachable server fails at once with
            # libpq's reason, where a pool would retry until its timeout.
            first = await psycopg.AsyncConnection.connect(dsn, **connect_args)
            if pool is None:
                return cls(OneConnection(first), dsn)
            await first.close()
            return cls(await PooledConnections.open(dsn, size=pool, kwargs=connect_args), dsn)
        except psycopg.Error as exc:
            raise translate(exc, where, password) from None

    # -- plumbing -----------------------------------------------------------------

    def _error(self, exc: psycopg.Error) -> StoreError:
        return translate(exc, self._where, self._password)

    async def _statement(
        self, query: str, params: Sequence[Any] | Mapping[str, Any]
    ) -> list[TupleRow]:
        """One statement on its own (autocommit): a read, or a write that needs no
        transaction around it (a round trip each for BEGIN and COMMIT saved)."""
        try:
            async with self._connections.connection() as conn:
                cursor = await conn.execute(query, params)
                return await cursor.fetchall()
        except psycopg.Error as exc:
            raise self._error(exc) from None

    async def _write(self, work: Callable[[Cursor], Awaitable[T]]) -> T:
        """Run `work` in one transaction; retried on deadlock or serialization
        failure (every write here is idempotent or fails as a whole)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                async with (
                    self._connections.connection() as conn,
                    conn.transaction(),
                    conn.cursor() as cursor,
                ):
                    return await work(cursor)
            except psycopg.Error as exc:
                if exc.sqlstate in _RETRY_STATES and attempt < _WRITE_ATTEMPTS:
                    await asyncio.sleep(0.05 * attempt)
                    continue
                raise self._error(exc) from None

    # -- schema -------------------------------------------------------------------

    @staticmethod
    async def _applied(conn: Connection) -> list[AppliedMigration]:
        """The migrations recorded, none when the table does not exist. One round
        trip: the table is read and a missing one is answered by the error, which
        in autocommit mode leaves nothing to roll back."""
        try:
            cursor = await conn.execute(Q["applied_migrations"])
        except psycopg.errors.UndefinedTable:
            return []
        return [AppliedMigration(int(v), str(n), str(c)) for v, n, c in await cursor.fetchall()]

    async def status(self) -> SchemaStatus:
        try:
            async with self._connections.connection() as conn:
                applied = await self._applied(conn)
        except psycopg.Error as exc:
            raise self._error(exc) from None
        return compare(applied, embedded_migrations(DIALECT))

    async def check(self) -> None:
        # Pooled connections broken by a restart are replaced first, so that the
        # first write after an outage does not meet one of them.
        try:
            await self._connections.check()
        except psycopg.Error as exc:
            raise self._error(exc) from None
        (await self.status()).require_ok(self._where)

    async def migrate(self) -> list[int]:
        """Apply the pending migrations, each in its own transaction under an advisory
        lock (concurrent migrators wait, then find nothing left to do); returns the
        versions applied. Any problem with the recorded schema fails closed."""
        embedded = embedded_migrations(DIALECT)
        applied: list[int] = []
        try:
            async with self._connections.connection() as conn:
                while True:
                    async with conn.transaction():
                        await conn.execute(Q["lock_migrations"])
                        # Created first so that reading it cannot fail (which
                        # would abort this transaction).
                        await conn.execute(Q["create_migrations_table"])
                        status = compare(await self._applied(conn), embedded)
                        if status.problems:
                            raise SchemaError(f"{self._where}: {status.describe()}")
                        if not status.pending:
                            return applied
                        migration = status.pending[0]
                        await conn.execute(migration.sql)
                        await conn.execute(
                            Q["record_migration"],
                            (migration.version, migration.name, migration.checksum),
                        )
                    applied.append(migration.version)
        except psycopg.Error as exc:
            raise self._error(exc) from None

    # -- findings -----------------------------------------------------------------

    async def hold_fence(self, fence: ShardFence) -> None:
        await self._write(lambda cursor: hold(cursor, fence))

    async def start_run(self, *, tenant: str, policy_hash: str, source: str, target: str) -> int:
        rows = await self._statement(Q["start_run"], (tenant, policy_hash, source, target))
        return int(rows[0][0])

    async def finish_run(self, run_id: int) -> None:
        if not await self._statement(Q["finish_run"], (run_id,)):
            raise StoreError(f"unknown run {run_id}")

    async def upsert(
        self, occurrences: Sequence[OccurrenceRecord], context: ObservationContext
    ) -> UpsertCounts:
        if not occurrences and context.shard is None:
            return UpsertCounts(0, 0, 0)

        async def work(cursor: Cursor) -> UpsertCounts:
            await hold(cursor, context.shard)
            findings = new_occurrences = observations = 0
            for i, chunk in enumerate(chunks(occurrences, _UPSERT_CHUNK)):
                f, o, n = await upsert_chunk(cursor, chunk, context, first=i == 0)
                findings, new_occurrences, observations = (
                    findings + f,
                    new_occurrences + o,
                    observations + n,
                )
            return UpsertCounts(findings, new_occurrences, observations)

        return await self._write(work)

    async def list_findings(self, query: FindingQuery) -> list[StoredFinding]:
        rows = await self._statement(
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
                t, fp, rule, name, conf, preview, TriageStatus(status), iso(first), iso(last), n
            )
            for t, fp, rule, name, conf, preview, status, first, last, n in rows
        ]

    async def occurrences(self, tenant: str, fingerprint: str) -> list[OccurrenceRecord]:
        rows = await self._statement(Q["occurrences"], (tenant, fingerprint))
        return [OccurrenceRecord(*row) for row in rows]

    async def triage(
        self, tenant: str, fingerprint: str, status: TriageStatus, *, note: str = ""
    ) -> None:
        async def work(cursor: Cursor) -> None:
            await cursor.execute(Q["set_status"], (status.value, tenant, fingerprint))
            if cursor.rowcount != 1:
                raise StoreError(f"no finding with fingerprint {fingerprint}")
            await cursor.execute(
                Q["insert_triage_event"], (tenant, fingerprint, status.value, note)
            )

        await self._write(work)

    async def triage_history(self, tenant: str, fingerprint: str) -> list[TriageEvent]:
        rows = await self._statement(Q["triage_history"], (tenant, fingerprint))
        return [TriageEvent(t, fp, TriageStatus(s), note, iso(at)) for t, fp, s, note, at in rows]

    # -- done-ledger ----------------------------------------------------------------

    async def mark(
        self,
        tenant: str,
        policy_hash: str,
        statuses: Mapping[str, LedgerStatus],
        *,
        fence: ShardFence | None = None,
    ) -> None:
        if not statuses and fence is None:
            return
        scope = await self._ledger_scope(tenant, policy_hash, create=bool(statuses))
        rows = None
        if scope is not None and statuses:
            if self._ledger_upserts_due > 0:
                self._ledger_upserts_due -= 1
            else:
                rows = ledger_copy_rows(scope, statuses)

        async def work(cursor: Cursor) -> None:
            await hold(cursor, fence)
            if scope is None or not statuses:
                return
            # New objects (all a first scan marks) are COPied; a batch holding
            # one the ledger has already goes through the upsert instead.
            if rows is not None:
                if await copy_new_ledger_rows(cursor, rows):
                    return
                self._ledger_upserts_due = _UPSERTS_AFTER_CONFLICT
            batch = _SORTED_JSON.encode(dict(statuses)).decode()
            await cursor.execute(Q["mark_ledger"], (scope, batch))

        await self._write(work)

    async def lookup(
        self, tenant: str, policy_hash: str, object_ids: Sequence[str]
    ) -> dict[str, LedgerStatus]:
        if not object_ids:
            return {}
        scope = await self._ledger_scope(tenant, policy_hash, create=False)
        if scope is None:
            return {}
        rows = await self._statement(
            Q["lookup_ledger"],
            {"ids": _SORTED_JSON.encode(list(object_ids)).decode(), "scope": scope},
        )
        return {str(oid): LedgerStatus(status) for oid, status in rows}

    async def _ledger_scope(self, tenant: str, policy_hash: str, *, create: bool) -> int | None:
        """The ledger's number for (tenant, policy): made on first use, then kept
        (scopes are never renumbered or deleted)."""
        key = (tenant, policy_hash)
        scope = self._scopes.get(key)
        if scope is not None:
            return scope
        if create:

            async def work(cursor: Cursor) -> int:
                await cursor.execute(Q["ensure_ledger_scope"], key)
                return await scalar(cursor)

            scope = await self._write(work)
        else:
            rows = await self._statement(Q["ledger_scope"], key)
            scope = int(rows[0][0]) if rows else None
        if scope is not None:
            self._scopes[key] = scope
        return scope

    # -- git frontier -----------------------------------------------------------------

    async def tips(self, tenant: str, repo: str) -> dict[str, str]:
        rows = await self._statement(Q["frontier_tips"], (tenant, repo))
        return {str(ref): str(tip) for ref, tip in rows}

    async def advance(
        self,
        tenant: str,
        repo: str,
        tips: Mapping[str, str],
        *,
        fence: ShardFence | None = None,
    ) -> None:
        if not tips and fence is None:
            return
        ordered = sorted(tips.items())

        async def work(cursor: Cursor) -> None:
            await hold(cursor, fence)
            await cursor.execute(
                Q["advance_frontier"],
                (tenant, repo, [ref for ref, _ in ordered], [tip for _, tip in ordered]),
            )

        await self._write(work)

    # -- db copy ------------------------------------------------------------------

    async def export_rows(self, table: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in await self._statement(Q[f"export_{table}"], ())]

    async def import_rows(self, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
        async def work(cursor: Cursor) -> None:
            await cursor.executemany(Q[f"import_{table}"], rows)

        await self._write(work)

    async def after_import(self) -> None:
        await self._statement(Q["reset_sequences"], ())

    async def close(self) -> None:
        await self._connections.close()
