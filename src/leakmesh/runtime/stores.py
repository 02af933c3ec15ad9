"""The three roles a scan writes to: findings, the done-ledger and the git
frontier. Often one database; a fleet may keep them apart (SPEC §7 has a DSN
for each)."""

from __future__ import annotations

from dataclasses import dataclass

from leakmesh.store.protocols import Datastore, DoneLedger, FindingsStore, GitFrontier


@dataclass(frozen=True, slots=True)
class Stores:
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
