"""The three roles a scan writes to: findings, the done-ledger and the git
frontier. Often one database; a fleet may keep them apart (SPEC §7 has a DSN
for each)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from msgspec import Struct

from leakmesh.store.factory import open_datastore

if TYPE_CHECKING:
    from leakmesh.store.migrate import MigrationPolicy
    from leakmesh.store.protocols import Datastore, DoneLedger, FindingsStore, GitFrontier


class Stores(Struct, frozen=True):
    findings: FindingsStore
    ledger: DoneLedger
    frontier: GitFrontier

    @classmethod
    def one(cls, store: Datastore) -> Stores:
        return cls(store, store, store)

    def distinct(self) -> list[FindingsStore | DoneLedger | GitFrontier]:
        """Each database once (the three are often one)."""
        found: dict[int, FindingsStore | DoneLedger | GitFrontier] = {}
        for store in (self.findings, self.ledger, self.frontier):
            found.setdefault(id(store), store)
        return list(found.values())


@asynccontextmanager
async def open_stores(
    *, findings: str, ledger: str, frontier: str, policy: MigrationPolicy
) -> AsyncIterator[Stores]:
    """The three roles from their DSNs, each database opened once, all closed
    on the way out."""
    opened: dict[str, Datastore] = {}
    try:
        for dsn in (findings, ledger, frontier):
            if dsn not in opened:
                opened[dsn] = await open_datastore(dsn, policy=policy)
        yield Stores(opened[findings], opened[ledger], opened[frontier])
    finally:
        for store in opened.values():
            await store.close()
