"""The datastore protocols: one async API, implemented in memory (`memory.py`),
on SQLite (`sqlite.py`) and on PostgreSQL; all pass `tests/.../store_contract.py`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
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


class Reachable(Protocol):
    async def check(self) -> None:
        """Reach the database once: `StoreUnavailable` while it cannot be reached,
        `SchemaError` when its schema no longer passes. A fleet worker calls it
        before writing again after losing the database."""
        ...


class FencedWrites(Reachable, Protocol):
    async def hold_fence(self, fence: ShardFence) -> None:
        """Raise the shard's recorded fence to `fence.epoch` (a fleet worker does this
        when it acquires a shard); `StaleFence` when a higher epoch is recorded."""
        ...


class FindingsStore(FencedWrites, Protocol):
    async def start_run(self, *, tenant: str, policy_hash: str, source: str, target: str) -> int:
        """A new run id for observations."""
        ...

    async def finish_run(self, run_id: int) -> None: ...

    async def upsert(
        self, occurrences: Sequence[OccurrenceRecord], context: ObservationContext
    ) -> UpsertCounts:
        """Idempotent: finding, occurrence and observation rows exist once each;
        counts are of rows newly created. With `context.shard`, the write applies
        only under a fence at least as high as the recorded one (else `StaleFence`)."""
        ...

    async def list_findings(self, query: FindingQuery) -> list[StoredFinding]: ...

    async def occurrences(self, tenant: str, fingerprint: str) -> list[OccurrenceRecord]: ...

    async def triage(
        self, tenant: str, fingerprint: str, status: TriageStatus, *, note: str = ""
    ) -> None:
        """Set the status and append it to the history; unknown fingerprint → StoreError."""
        ...

    async def triage_history(self, tenant: str, fingerprint: str) -> list[TriageEvent]: ...


class DoneLedger(FencedWrites, Protocol):
    async def mark(
        self,
        tenant: str,
        policy_hash: str,
        statuses: Mapping[str, LedgerStatus],
        *,
        fence: ShardFence | None = None,
    ) -> None:
        """Record outcomes by object id; a status never moves downward. Fenced like
        `FindingsStore.upsert` when `fence` is given."""
        ...

    async def lookup(
        self, tenant: str, policy_hash: str, object_ids: Sequence[str]
    ) -> dict[str, LedgerStatus]:
        """The recorded status of each known object id (unknown ids are absent)."""
        ...


class GitFrontier(FencedWrites, Protocol):
    async def tips(self, tenant: str, repo: str) -> dict[str, str]:
        """Scanned tip commit per ref."""
        ...

    async def advance(
        self,
        tenant: str,
        repo: str,
        tips: Mapping[str, str],
        *,
        fence: ShardFence | None = None,
    ) -> None: ...


class Datastore(FindingsStore, DoneLedger, GitFrontier, Protocol):
    """One database holding all three (how the CLI opens ``--store=DSN``)."""

    async def close(self) -> None: ...
