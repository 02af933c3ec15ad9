"""The datastore contract and the schema policy on a real PostgreSQL server (started
by the fixtures in conftest.py), plus the DSN-secrecy and TLS-warning rules."""

from __future__ import annotations

import asyncio
import logging
import traceback
from typing import Any

import psycopg
import pytest
from msgspec.structs import replace

from contract.store_contract import TENANT, StoreContract, StoreFactory, occurrence
from integration.pg_server import free_port
from leakmesh.store import postgres
from leakmesh.store.errors import SchemaError, StaleFence, StoreError, StoreUnavailable
from leakmesh.store.migrate import MIGRATIONS_TABLE, MigrationPolicy, embedded_migrations
from leakmesh.store.models import FindingQuery, LedgerStatus, ObservationContext, ShardFence
from leakmesh.store.pg_boundary import unencrypted_remote_hosts, warn_if_unencrypted
from leakmesh.store.pg_connections import PoolSize
from leakmesh.store.postgres import PostgresDatastore
from leakmesh.store.protocols import Datastore

pytestmark = pytest.mark.integration

CANARY = "canary-Pw-7f3a9c"


def with_password(dsn: str, password: str) -> str:
    """The test server trusts every local connection, so any password is accepted."""
    return dsn.replace("postgresql://postgres@", f"postgresql://postgres:{password}@", 1)


def migration_rows(dsn: str) -> list[tuple[int, str]]:
    with psycopg.connect(dsn) as db:
        return [
            (int(v), str(c))
            for v, c in db.execute(f"SELECT version, checksum FROM {MIGRATIONS_TABLE}")
        ]


class TestPostgres(StoreContract):
    @pytest.fixture
    def store_factory(self, pg_dsn: str) -> StoreFactory:
        async def make() -> Datastore:
            return await PostgresDatastore.open(pg_dsn)

        return make


class TestPostgresOneConnection(StoreContract):
    """As the commands open it: one connection, no pool."""

    @pytest.fixture
    def store_factory(self, pg_dsn: str) -> StoreFactory:
        async def make() -> Datastore:
            return await PostgresDatastore.open(pg_dsn, pool=None)

        return make


@pytest.mark.parametrize("pool", [PoolSize(), None], ids=["pool", "one-connection"])
def test_a_closed_store_says_so(pg_dsn: str, pool: PoolSize | None) -> None:
    async def scenario() -> None:
        store = await PostgresDatastore.open(pg_dsn, pool=pool)
        await store.close()
        with pytest.raises(StoreError, match="the datastore is closed"):
            await store.lookup(TENANT, "p", ["x"])

    asyncio.run(scenario())


def test_validate_fails_closed_on_an_empty_database(pg_empty_dsn: str) -> None:
    with pytest.raises(SchemaError, match="pending"):
        asyncio.run(PostgresDatastore.open(pg_empty_dsn))


def test_auto_migrate_is_idempotent_and_validate_then_passes(pg_empty_dsn: str) -> None:
    async def scenario() -> None:
        store = await PostgresDatastore.open(pg_empty_dsn, policy=MigrationPolicy.DEV_AUTO_MIGRATE)
        assert await store.migrate() == []
        await store.close()
        again = await PostgresDatastore.open(pg_empty_dsn, policy=MigrationPolicy.DEV_AUTO_MIGRATE)
        await again.close()
        validated = await PostgresDatastore.open(pg_empty_dsn)
        assert (await validated.status()).ok
        await validated.close()

    asyncio.run(scenario())
    embedded = [m.version for m in embedded_migrations("postgresql")]
    assert [version for version, _ in migration_rows(pg_empty_dsn)] == embedded


def test_ledger_scopes_migration_keeps_every_ledger_row(pg_empty_dsn: str) -> None:
    """0003 moves the done-ledger to scope numbers: rows written before it are
    still found, under the same tenant and policy, afterwards."""
    first, second, scopes, *later = embedded_migrations("postgresql")
    assert scopes.name == "ledger_scopes"
    rows = [
        (TENANT, "p1", "blob-a", 2),
        (TENANT, "p1", "blob,b", 3),
        (TENANT, "p2", "blob-a", 1),
        ("other-tenant", "p1", "blob-a", 2),
    ]
    with psycopg.connect(pg_empty_dsn, autocommit=True) as db:
        db.execute(first.sql)
        db.execute(second.sql)
        with db.cursor() as cursor:
            cursor.executemany("INSERT INTO done_ledger VALUES (%s, %s, %s, %s, now())", rows)
        db.execute(scopes.sql)
        for migration in later:
            db.execute(migration.sql)

    async def scenario() -> None:
        store = await PostgresDatastore.connect(pg_empty_dsn)
        try:
            assert await store.lookup(TENANT, "p1", ["blob-a", "blob,b", "x"]) == {
                "blob-a": LedgerStatus(2),
                "blob,b": LedgerStatus(3),
            }
            assert await store.lookup(TENANT, "p2", ["blob-a"]) == {"blob-a": LedgerStatus(1)}
            assert await store.lookup("other-tenant", "p1", ["blob-a"]) == {
                "blob-a": LedgerStatus(2)
            }
            assert await store.lookup("other-tenant", "p2", ["blob-a"]) == {}
            await store.mark(TENANT, "p3", {"blob-c": LedgerStatus(2)})
            assert await store.lookup(TENANT, "p3", ["blob-c"]) == {"blob-c": LedgerStatus(2)}
        finally:
            await store.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("change", ["changed", "truncated"])
def test_validate_fails_closed_on_a_changed_or_truncated_checksum(pg_dsn: str, change: str) -> None:
    [(_, recorded), *_later] = migration_rows(pg_dsn)
    checksum = "0" * 64 if change == "changed" else recorded[:16]
    with psycopg.connect(pg_dsn) as db:
        db.execute(f"UPDATE {MIGRATIONS_TABLE} SET checksum = %s WHERE version = 1", (checksum,))
    with pytest.raises(SchemaError, match="checksum differs"):
        asyncio.run(PostgresDatastore.open(pg_dsn))
    with pytest.raises(SchemaError, match="checksum differs"):
        asyncio.run(PostgresDatastore.open(pg_dsn, policy=MigrationPolicy.DEV_AUTO_MIGRATE))


def test_concurrent_migrations_apply_each_version_once(pg_empty_dsn: str) -> None:
    async def scenario() -> list[list[int]]:
        stores = [await PostgresDatastore.connect(pg_empty_dsn) for _ in range(4)]
        try:
            return list(await asyncio.gather(*(store.migrate() for store in stores)))
        finally:
            for store in stores:
                await store.close()

    results = asyncio.run(scenario())
    # Each version applied by exactly one of the migrators.
    embedded = [m.version for m in embedded_migrations("postgresql")]
    assert sorted(v for applied in results for v in applied) == embedded
    assert [version for version, _ in migration_rows(pg_empty_dsn)] == embedded

    async def validate() -> None:
        store = await PostgresDatastore.open(pg_empty_dsn)
        await store.close()

    asyncio.run(validate())


def test_unreachable_server_is_unavailable_without_leaking_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dsn = f"postgresql://leakmesh:{CANARY}@127.0.0.1:{free_port()}/leakmesh"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(StoreUnavailable) as caught:
        asyncio.run(PostgresDatastore.open(dsn))
    shown = "".join(traceback.format_exception(caught.value))
    assert "127.0.0.1" in str(caught.value)
    assert "\n" not in str(caught.value)
    for text in (str(caught.value), repr(caught.value), shown, caplog.text):
        assert CANARY not in text


def test_store_errors_and_repr_never_show_the_password(pg_dsn: str) -> None:
    async def scenario() -> None:
        store = await PostgresDatastore.open(with_password(pg_dsn, CANARY))
        try:
            assert CANARY not in repr(store)
            with pytest.raises(StoreError) as caught:  # no such run: a foreign-key violation
                await store.upsert([occurrence(1)], ObservationContext(run_id=999, policy_hash="p"))
            assert CANARY not in str(caught.value)
            assert "***" in str(caught.value)
        finally:
            await store.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("dsn", "environ", "expected"),
    [
        (f"postgresql://u:{CANARY}@db.example.org/leakmesh", {}, ["db.example.org"]),
        ("postgresql://u@db.example.org/leakmesh?sslmode=prefer", {}, ["db.example.org"]),
        ("postgresql://u@10.1.2.3:5433/leakmesh?sslmode=disable", {}, ["10.1.2.3"]),
        ("host=db.example.org sslmode=allow dbname=leakmesh", {}, ["db.example.org"]),
        ("postgresql://u@db.example.org/leakmesh?sslmode=require", {}, []),
        ("postgresql://u@db.example.org/leakmesh?sslmode=verify-full", {}, []),
        ("postgresql://u@db.example.org/leakmesh", {"PGSSLMODE": "verify-full"}, []),
        ("postgresql://u@localhost/leakmesh", {}, []),
        ("postgresql://u@127.0.0.5:5432/leakmesh", {}, []),
        ("postgresql://u@[::1]:5432/leakmesh", {}, []),
        ("host=/var/run/postgresql dbname=leakmesh", {}, []),
        ("postgresql:///leakmesh", {}, []),
        ("postgresql:///leakmesh", {"PGHOST": "db.example.org"}, ["db.example.org"]),
        ("postgresql://u@localhost,db.example.org/leakmesh", {}, ["db.example.org"]),
    ],
)
def test_tls_warning_decision(dsn: str, environ: dict[str, str], expected: list[str]) -> None:
    assert unencrypted_remote_hosts(dsn, environ=environ) == expected


def test_tls_warning_is_logged_once_naming_the_host_not_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="leakmesh.store")
    dsn = f"postgresql://scanner:{CANARY}@db.example.org:5432/leakmesh"
    assert warn_if_unencrypted(dsn, environ={})
    [record] = [r for r in caplog.records if r.name == "leakmesh.store"]
    assert record.levelno == logging.WARNING
    assert "db.example.org" in record.getMessage()
    assert CANARY not in caplog.text
    caplog.clear()
    assert not warn_if_unencrypted("postgresql://scanner@localhost/leakmesh", environ={})
    assert caplog.records == []


def test_upsert_across_chunks_and_concurrent_writers_counts_each_row_once(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small chunks (so one upsert COPYs several batches in one transaction) and two
    writers with the same rows in opposite orders: every row is created once."""
    monkeypatch.setattr(postgres, "_UPSERT_CHUNK", 7)
    records = [replace(occurrence(n % 20), path=f"p{n}.py") for n in range(60)]
    records += records[:10]  # repeated keys, some in another chunk

    async def scenario() -> list[tuple[int, int, int]]:
        stores = [await PostgresDatastore.open(pg_dsn) for _ in range(2)]
        try:
            run_id = await stores[0].start_run(
                tenant=TENANT, policy_hash="p", source="fs", target="."
            )
            context = ObservationContext(run_id=run_id, policy_hash="p")
            counts = await asyncio.gather(
                stores[0].upsert(records, context), stores[1].upsert(records[::-1], context)
            )
            return [(c.findings, c.occurrences, c.observations) for c in counts]
        finally:
            for store in stores:
                await store.close()

    counts = asyncio.run(scenario())
    assert tuple(map(sum, zip(*counts, strict=True))) == (20, 60, 60)


def test_ingest_micro_check(pg_dsn: str) -> None:
    """A few thousand rows through every level, then again (no timing assertions)."""

    async def scenario() -> None:
        store = await PostgresDatastore.open(pg_dsn)
        try:
            run_id = await store.start_run(
                tenant=TENANT, policy_hash="p" * 64, source="fs", target="."
            )
            context = ObservationContext(run_id=run_id, policy_hash="p" * 64)
            records = [
                replace(occurrence(n % 500), path=f"src/file{n}.py", line=n) for n in range(3000)
            ]
            first = await store.upsert(records, context)
            assert (first.findings, first.occurrences, first.observations) == (500, 3000, 3000)
            again = await store.upsert(records, context)
            assert (again.findings, again.occurrences, again.observations) == (0, 0, 0)
            findings = await store.list_findings(FindingQuery(tenant=TENANT))
            assert len(findings) == 500
            assert {f.occurrences for f in findings} == {6}
            ids = [f"{i:040x}" for i in range(5000)]
            await store.mark(TENANT, "p", dict.fromkeys(ids, LedgerStatus.SCANNED_CLEAN))
            found = await store.lookup(TENANT, "p", [*ids, "unknown"])
            assert len(found) == 5000
            await store.finish_run(run_id)
        finally:
            await store.close()

    asyncio.run(scenario())


def test_ledger_copies_new_objects_and_upserts_a_batch_meeting_known_ones(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New objects are COPied; a batch with one the ledger holds is upserted in the
    same transaction (the fence still held), and so are the next few batches."""
    copies: list[bool] = []
    copy = postgres.copy_new_ledger_rows

    async def spy(cursor: psycopg.AsyncCursor[Any], rows: str) -> bool:
        copies.append(await copy(cursor, rows))
        return copies[-1]

    monkeypatch.setattr(postgres, "copy_new_ledger_rows", spy)
    monkeypatch.setattr(postgres, "_UPSERTS_AFTER_CONFLICT", 2)
    clean, found = LedgerStatus.SCANNED_CLEAN, LedgerStatus.SCANNED_WITH_FINDINGS
    fence = ShardFence(TENANT, 1, "s0", 1)

    async def scenario() -> None:
        store = await PostgresDatastore.open(pg_dsn)
        try:
            await store.mark(TENANT, "p", {"a": found, "b": clean}, fence=fence)
            assert copies == [True]
            await store.mark(TENANT, "p", {"a": clean, "b": found, "c": clean}, fence=fence)
            assert copies == [True, False]
            await store.mark(TENANT, "p", {"d": clean})
            await store.mark(TENANT, "p", {"e": clean})
            assert copies == [True, False]  # the two batches after a conflict
            await store.mark(TENANT, "p", {"f": clean})
            assert copies == [True, False, True]
            assert await store.lookup(TENANT, "p", list("abcdefg")) == {
                "a": found,
                "b": found,
                **dict.fromkeys("cdef", clean),
            }
            with pytest.raises(StaleFence):
                await store.mark(TENANT, "p", {"g": clean}, fence=replace(fence, epoch=0))
        finally:
            await store.close()

    asyncio.run(scenario())
    with psycopg.connect(pg_dsn) as db:
        [(stamped,)] = db.execute("SELECT count(updated_at) FROM done_ledger").fetchall()
    assert stamped == 6


def test_two_writers_marking_the_same_new_objects_both_succeed(pg_dsn: str) -> None:
    """Both COPY; the second waits for the first, meets its rows, and upserts."""
    ids = {f"{i:040x}": LedgerStatus.SCANNED_CLEAN for i in range(2000)}

    async def scenario() -> dict[str, LedgerStatus]:
        stores = [await PostgresDatastore.open(pg_dsn) for _ in range(2)]
        try:
            await asyncio.gather(*(store.mark(TENANT, "p", ids) for store in stores))
            return await stores[0].lookup(TENANT, "p", list(ids))
        finally:
            for store in stores:
                await store.close()

    assert asyncio.run(scenario()) == ids
