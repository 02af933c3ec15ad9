"""The in-memory coordinator: the same semantics as etcd's (leases with a TTL on an
injectable clock, owner keys that vanish with their lease, fences raised on
acquire) for unit tests. It passes the same contract suite; production never uses it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from msgspec import Struct
from msgspec.structs import replace

from leakmesh.coordination.errors import CoordinatorUnavailable, LeaseLost, RunExists, UnknownRun
from leakmesh.coordination.models import (
    Progress,
    RunSpec,
    ShardLease,
    ShardRecord,
    ShardSpec,
    ShardState,
    ShardStatus,
)
from leakmesh.coordination.shards import candidates, claimed, lease_token, run_complete

Clock = Callable[[], float]


class _Owner(Struct):
    token: str
    session: MemorySession


class InMemoryCoordinator:
    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self._runs: dict[int, RunSpec] = {}
        self._specs: dict[int, dict[str, ShardSpec]] = {}
        self._records: dict[tuple[int, str], ShardRecord] = {}
        self._owners: dict[tuple[int, str], _Owner] = {}
        self._sessions = 0
        self.unavailable = False
        """A test's etcd outage: while set, every call raises `CoordinatorUnavailable`."""

    def _reach(self) -> None:
        if self.unavailable:
            raise CoordinatorUnavailable("the in-memory coordinator is set unavailable")

    async def health(self) -> None:
        self._reach()

    async def create_run(self, run: RunSpec, shards: Sequence[ShardSpec]) -> None:
        self._reach()
        if run.run_id in self._runs:
            raise RunExists(f"run {run.run_id} already exists")
        self._specs[run.run_id] = {}
        await self.register_shards(run.run_id, shards)
        self._runs[run.run_id] = run

    async def register_shards(self, run_id: int, shards: Sequence[ShardSpec]) -> None:
        self._reach()
        specs = self._specs.setdefault(run_id, {})
        for spec in shards:
            if spec.shard_id not in specs:
                specs[spec.shard_id] = spec
                self._records[(run_id, spec.shard_id)] = ShardRecord()

    async def get_run(self, run_id: int) -> RunSpec:
        self._reach()
        if run_id not in self._runs:
            raise UnknownRun(f"no run {run_id}")
        return self._runs[run_id]

    async def list_runs(self) -> list[RunSpec]:
        self._reach()
        return [self._runs[r] for r in sorted(self._runs)]

    async def list_shards(self, run_id: int) -> list[ShardStatus]:
        await self.get_run(run_id)
        statuses = []
        for shard_id, spec in sorted(self._specs[run_id].items()):
            owner = self._live_owner((run_id, shard_id))
            record = self._records[(run_id, shard_id)]
            statuses.append(
                ShardStatus(run_id, spec, record, owner.session.worker_id if owner else None)
            )
        return statuses

    async def is_complete(self, run_id: int) -> bool:
        await self.get_run(run_id)
        return run_complete(self._records[(run_id, s)] for s in self._specs[run_id])

    async def open_session(self, *, worker_id: int, ttl_s: int) -> MemorySession:
        self._reach()
        self._sessions += 1
        return MemorySession(self, worker_id=worker_id, ttl_s=ttl_s, session_id=self._sessions)

    async def close(self) -> None:
        return None

    # -- used by sessions ---------------------------------------------------------

    def _live_owner(self, key: tuple[int, str]) -> _Owner | None:
        owner = self._owners.get(key)
        if owner is not None and not owner.session.alive:
            del self._owners[key]
            owner = None
        return owner

    def _acquire(self, session: MemorySession, run_id: int) -> ShardLease | None:
        if run_id not in self._runs:
            raise UnknownRun(f"no run {run_id}")
        records = {shard_id: self._records[(run_id, shard_id)] for shard_id in self._specs[run_id]}
        owned = {shard_id for shard_id in records if self._live_owner((run_id, shard_id))}
        states = {shard_id: record.state for shard_id, record in records.items()}
        for shard_id in candidates(states, owned, session.worker_id):
            taken = self._records[(run_id, shard_id)] = claimed(
                records[shard_id], session.worker_id
            )
            token = lease_token(session.worker_id, session.session_id, taken.fence)
            self._owners[(run_id, shard_id)] = _Owner(token, session)
            spec = self._specs[run_id][shard_id]
            return ShardLease(run_id, spec, taken.fence, session.worker_id, taken.cursor, token)
        return None

    def _update(self, lease: ShardLease, record: ShardRecord, *, keep_owner: bool) -> None:
        key = (lease.run_id, lease.spec.shard_id)
        owner = self._live_owner(key)
        if owner is None or owner.token != lease.token:
            raise LeaseLost(
                f"shard {lease.spec.shard_id} of run {lease.run_id} is no longer held "
                f"under fence {lease.fence}"
            )
        self._records[key] = record
        if not keep_owner:
            del self._owners[key]

    def _record(self, lease: ShardLease) -> ShardRecord:
        return self._records[(lease.run_id, lease.spec.shard_id)]


class MemorySession:
    def __init__(
        self, coordinator: InMemoryCoordinator, *, worker_id: int, ttl_s: int, session_id: int
    ) -> None:
        self._coordinator = coordinator
        self._worker_id = worker_id
        self._ttl_s = ttl_s
        self.session_id = session_id
        self.expires_at = coordinator.clock() + ttl_s
        self.closed = False

    @property
    def worker_id(self) -> int:
        return self._worker_id

    @property
    def ttl_s(self) -> int:
        return self._ttl_s

    @property
    def alive(self) -> bool:
        return not self.closed and self._coordinator.clock() < self.expires_at

    async def renew(self) -> None:
        self._coordinator._reach()
        if not self.alive:
            raise LeaseLost(f"lease of worker {self._worker_id} expired")
        self.expires_at = self._coordinator.clock() + self._ttl_s

    async def acquire(self, run_id: int) -> ShardLease | None:
        self._coordinator._reach()
        if not self.alive:
            raise LeaseLost(f"lease of worker {self._worker_id} expired")
        return self._coordinator._acquire(self, run_id)

    async def checkpoint(self, lease: ShardLease, *, cursor: str, progress: Progress) -> None:
        self._coordinator._reach()
        record = replace(self._coordinator._record(lease), cursor=cursor, progress=progress)
        self._coordinator._update(lease, record, keep_owner=True)

    async def complete(self, lease: ShardLease, *, progress: Progress) -> None:
        self._coordinator._reach()
        record = replace(self._coordinator._record(lease), state=ShardState.DONE, progress=progress)
        self._coordinator._update(lease, record, keep_owner=False)

    async def park(self, lease: ShardLease, *, reason: str) -> None:
        self._coordinator._reach()
        record = replace(self._coordinator._record(lease), state=ShardState.PARKED, reason=reason)
        self._coordinator._update(lease, record, keep_owner=False)

    async def release(self, lease: ShardLease) -> None:
        self._coordinator._reach()
        record = replace(self._coordinator._record(lease), state=ShardState.PENDING)
        self._coordinator._update(lease, record, keep_owner=False)

    async def close(self) -> None:
        self.closed = True
