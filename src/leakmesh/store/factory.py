"""Open the datastore a DSN names. Production code never falls back to memory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leakmesh.store.dsn import parse_dsn
from leakmesh.store.migrate import MigrationPolicy

if TYPE_CHECKING:
    from leakmesh.store.protocols import Datastore


async def open_datastore(dsn: str, *, policy: MigrationPolicy) -> Datastore:
    """``sqlite:///path.db``: a file that does not exist yet is created with the
    current schema (a new embedded store); an existing one follows `policy`.
    ``postgresql://…``: always follows `policy`."""
    parsed = parse_dsn(dsn)
    if parsed.kind == "sqlite":
        from leakmesh.store.sqlite import SqliteDatastore

        if not parsed.path.exists():
            policy = MigrationPolicy.DEV_AUTO_MIGRATE
        return await SqliteDatastore.open(parsed.path, policy=policy)
    from leakmesh.store.postgres import (
        PostgresDatastore,  # type: ignore[import-not-found,unused-ignore]
    )

    # Commands make one call at a time: one connection, no pool.
    store: Datastore = await PostgresDatastore.open(parsed.value, policy=policy, pool=None)
    return store
