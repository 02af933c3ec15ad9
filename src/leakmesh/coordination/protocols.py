"""The coordinator protocol: implemented on etcd (`etcd.py`) and in memory
(`memory.py`); both pass `tests/contract/coordinator_contract.py`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from leakmesh.coordination.models import Progress, RunSpec, ShardLease, ShardSpec, ShardStatus


class CoordinatorSession(Protocol):
    """One worker's presence: a lease with a TTL that `renew` keeps alive. Shards it
    acquires are owned through that lease and are lost with it."""

    @property
    def worker_id(self) -> int: ...

    @property
    def ttl_s(self) -> int: ...

    async def renew(self) -> None:
        """One keepalive; `LeaseLost` when the lease has already expired."""
        ...

    async def acquire(self, run_id: int) -> ShardLease | None:
        """Take one shard that is pending or whose owner vanished, in one atomic
        step that raises its fence; None when there is none to take."""
        ...

    async def checkpoint(self, lease: ShardLease, *, cursor: str, progress: Progress) -> None:
        """Record progress; `LeaseLost` (nothing written) unless `lease` still owns it."""
        ...

    async def complete(self, lease: ShardLease, *, progress: Progress) -> None: ...

    async def park(self, lease: ShardLease, *, reason: str) -> None: ...

    async def release(self, lease: ShardLease) -> None:
        """Give the shard back (pending, cursor kept) for another worker."""
        ...

    async def close(self) -> None:
        """Revoke the lease: every shard still owned becomes acquirable at once."""
        ...


class Coordinator(Protocol):
    async def health(self) -> None:
        """Return when the coordinator answers; `CoordinatorUnavailable` otherwise."""
        ...

    async def create_run(self, run: RunSpec, shards: Sequence[ShardSpec]) -> None:
        """Create the run with its shards, all pending; `RunExists` if it exists."""
        ...

    async def register_shards(self, run_id: int, shards: Sequence[ShardSpec]) -> None:
        """Add shards to a run; a shard id already present is left as it is."""
        ...

    async def get_run(self, run_id: int) -> RunSpec: ...

    async def list_runs(self) -> list[RunSpec]: ...

    async def list_shards(self, run_id: int) -> list[ShardStatus]: ...

    async def is_complete(self, run_id: int) -> bool:
        """Every shard done or parked (a run without shards is not complete); it
        reads only the shards still open, not the whole run."""
        ...

    async def open_session(self, *, worker_id: int, ttl_s: int) -> CoordinatorSession: ...

    async def close(self) -> None: ...
