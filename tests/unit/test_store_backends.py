"""The datastore contract on the in-memory and SQLite implementations (PostgreSQL:
tests/integration)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from contract.store_contract import StoreContract, StoreFactory
from leakmesh.store.errors import SchemaError
from leakmesh.store.memory import MemoryDatastore
from leakmesh.store.migrate import MIGRATIONS_TABLE, MigrationPolicy
from leakmesh.store.protocols import Datastore
from leakmesh.store.sqlite import SqliteDatastore


class TestMemory(StoreContract):
    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        async def make() -> Datastore:
            return MemoryDatastore()

        return make


class TestSqlite(StoreContract):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> StoreFactory:
        async def make() -> Datastore:
            return await SqliteDatastore.open(
                tmp_path / "store.db", policy=MigrationPolicy.DEV_AUTO_MIGRATE
            )

        return make


def test_validate_fails_closed_on_a_missing_schema(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="pending"):
        asyncio.run(SqliteDatastore.open(tmp_path / "empty.db"))


def test_auto_migrate_is_idempotent_and_validate_then_passes(tmp_path: Path) -> None:
    async def scenario() -> None:
        path = tmp_path / "s.db"
        store = await SqliteDatastore.open(path, policy=MigrationPolicy.DEV_AUTO_MIGRATE)
        assert await store.migrate() == []
        await store.close()
        again = await SqliteDatastore.open(path, policy=MigrationPolicy.DEV_AUTO_MIGRATE)
        await again.close()
        validated = await SqliteDatastore.open(path)
        assert (await validated.status()).ok
        await validated.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("checksum", ["0" * 64, "truncated"])
def test_validate_fails_closed_on_a_changed_or_truncated_checksum(
    tmp_path: Path, checksum: str
) -> None:
    import sqlite3

    path = tmp_path / "s.db"

    async def prepare() -> None:
        store = await SqliteDatastore.open(path, policy=MigrationPolicy.DEV_AUTO_MIGRATE)
        await store.close()

    asyncio.run(prepare())
    with sqlite3.connect(path) as db:
        db.execute(f"UPDATE {MIGRATIONS_TABLE} SET checksum = ? WHERE version = 1", (checksum,))
    with pytest.raises(SchemaError, match="checksum differs"):
        asyncio.run(SqliteDatastore.open(path))
