"""A worker's session on the etcd coordinator: its lease, and the shard
operations done under it (each one a transaction of `EtcdCoordinator`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from leakmesh.coordination.models import Progress, ShardLease, ShardState

if TYPE_CHECKING:
    from leakmesh.coordination.etcd import EtcdCoordinator


class EtcdSession:
    def __init__(
        self, coordinator: EtcdCoordinator, *, lease: Any, worker_id: int, ttl_s: int
    ) -> None:
        self._coordinator = coordinator
        self.lease_id: int = lease.id
        self.worker_id = worker_id
        self.ttl_s = ttl_s

    async def renew(self) -> None:
        await self._coordinator._renew(self)

    async def acquire(self, run_id: int) -> ShardLease | None:
        return await self._coordinator._acquire(self, run_id)

    async def checkpoint(self, lease: ShardLease, *, cursor: str, progress: Progress) -> None:
        await self._coordinator._update(
            lease, {"cursor": cursor, "progress": progress}, keep_owner=True, what="checkpoint"
        )

    async def complete(self, lease: ShardLease, *, progress: Progress) -> None:
        await self._coordinator._update(
            lease,
            {"state": ShardState.DONE, "progress": progress},
            keep_owner=False,
            what="complete",
        )

    async def park(self, lease: ShardLease, *, reason: str) -> None:
        await self._coordinator._update(
            lease, {"state": ShardState.PARKED, "reason": reason}, keep_owner=False, what="park"
        )

    async def release(self, lease: ShardLease) -> None:
        await self._coordinator._update(
            lease, {"state": ShardState.PENDING}, keep_owner=False, what="release"
        )

    async def close(self) -> None:
        await self._coordinator._revoke(self)
