"""The coordinator on etcd (aetcd, asyncio).

Layout under the namespace (SPEC §6)::

    <ns>/runs/<run id, 20 digits>/meta                   RunSpec (written last)
    <ns>/runs/<run id>/shards/<shard id>/spec            ShardSpec (never changes)
    <ns>/runs/<run id>/shards/<shard id>/state           ShardRecord: state, fence, cursor
    <ns>/runs/<run id>/shards/<shard id>/owner           lease token, bound to the owner's lease

A shard is owned while its owner key exists: etcd deletes the key when the
owner's lease expires. Acquire is one transaction (owner key absent and state
unchanged since read → owner key under my lease, fence + 1); every later write is
a transaction comparing the owner key's value with my token, so a worker whose
lease expired, or whose shard another worker took, writes nothing.

aetcd errors are translated here into `CoordinationError`s.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import aetcd
import aetcd.exceptions

from leakmesh.coordination.errors import (
    CoordinationError,
    CoordinatorUnavailable,
    LeaseLost,
    RunExists,
    UnknownRun,
)
from leakmesh.coordination.models import (
    Progress,
    RunSpec,
    ShardLease,
    ShardRecord,
    ShardSpec,
    ShardState,
    ShardStatus,
    record_state,
)
from leakmesh.coordination.shards import candidates, claimed, lease_token

DEFAULT_RPC_TIMEOUT_S = 5
_REGISTER_CONCURRENCY = 16

Endpoint = tuple[str, int]


@asynccontextmanager
async def _translated(what: str) -> AsyncIterator[None]:
    try:
        yield
    except (
        aetcd.exceptions.ConnectionFailedError,
        aetcd.exceptions.ConnectionTimeoutError,
        TimeoutError,
    ) as exc:
        raise CoordinatorUnavailable(
            f"etcd unavailable during {what}: {type(exc).__name__}"
        ) from None
    except aetcd.exceptions.ClientError as exc:
        if "lease not found" in str(exc):
            raise LeaseLost(f"{what}: the worker's lease has expired") from None
        raise CoordinationError(f"etcd error during {what}: {type(exc).__name__}: {exc}") from None


@dataclass(frozen=True, slots=True)
class _Keys:
    namespace: bytes

    def runs(self) -> bytes:
        return self.namespace + b"/runs/"

    def run(self, run_id: int) -> bytes:
        return self.runs() + f"{run_id:020d}".encode()

    def meta(self, run_id: int) -> bytes:
        return self.run(run_id) + b"/meta"

    def shards(self, run_id: int) -> bytes:
        return self.run(run_id) + b"/shards/"

    def shard(self, run_id: int, shard_id: str, part: str) -> bytes:
        return self.shards(run_id) + f"{shard_id}/{part}".encode()


@dataclass(slots=True)
class _ShardView:
    """A shard's keys as read, decoded on demand: acquire decodes the state of
    every shard but the spec of the one it takes."""

    raw_spec: bytes = b""
    raw_state: bytes = b""
    state_revision: int = 0
    owner: bytes | None = None

    @property
    def spec(self) -> ShardSpec:
        return ShardSpec.from_json(self.raw_spec)

    @property
    def record(self) -> ShardRecord:
        return ShardRecord.from_json(self.raw_state)


_TAKEABLE = (ShardState.PENDING, ShardState.ACTIVE)


class EtcdCoordinator:
    def __init__(self, client: Any, *, namespace: str, endpoint: Endpoint) -> None:
        self._client = client
        self._keys = _Keys(namespace.rstrip("/").encode())
        self.endpoint = endpoint

    def __repr__(self) -> str:
        return f"EtcdCoordinator({self.endpoint[0]}:{self.endpoint[1]}, {self._keys.namespace!r})"

    @classmethod
    async def connect(
        cls,
        endpoints: Sequence[Endpoint],
        *,
        namespace: str,
        timeout_s: int = DEFAULT_RPC_TIMEOUT_S,
    ) -> EtcdCoordinator:
        """The first endpoint that answers a status request; `CoordinatorUnavailable`
        naming them all when none does."""
        for host, port in endpoints:
            client = aetcd.Client(host=host, port=port, timeout=timeout_s)
            coordinator = cls(client, namespace=namespace, endpoint=(host, port))
            try:
                await coordinator.health()
            except CoordinationError:
                await client.close()
                continue
            return coordinator
        shown = ", ".join(f"{h}:{p}" for h, p in endpoints)
        raise CoordinatorUnavailable(f"no etcd endpoint answered ({shown})")

    async def health(self) -> None:
        async with _translated("health check"):
            await self._client.status()

    async def close(self) -> None:
        await self._client.close()

    # -- runs and shards ------------------------------------------------------------

    async def create_run(self, run: RunSpec, shards: Sequence[ShardSpec]) -> None:
        meta = self._keys.meta(run.run_id)
        async with _translated("create run"):
            if await self._client.get(meta) is not None:
                raise RunExists(f"run {run.run_id} already exists")
        # Shards first, the run last: a worker sees a run only once all its shards are there.
        await self.register_shards(run.run_id, shards)
        async with _translated("create run"):
            created, _ = await self._client.transaction(
                compare=[self._client.transactions.version(meta) == 0],
                success=[self._client.transactions.put(meta, run.to_json())],
                failure=[],
            )
        if not created:
            raise RunExists(f"run {run.run_id} already exists")

    async def register_shards(self, run_id: int, shards: Sequence[ShardSpec]) -> None:
        limit = asyncio.Semaphore(_REGISTER_CONCURRENCY)
        txn = self._client.transactions

        async def register(spec: ShardSpec) -> None:
            spec_key = self._keys.shard(run_id, spec.shard_id, "spec")
            state_key = self._keys.shard(run_id, spec.shard_id, "state")
            async with limit, _translated("register shards"):
                await self._client.transaction(
                    compare=[txn.version(spec_key) == 0],
                    success=[
                        txn.put(spec_key, spec.to_json()),
                        txn.put(state_key, ShardRecord().to_json()),
                    ],
                    failure=[],
                )

        await asyncio.gather(*(register(spec) for spec in shards))

    async def get_run(self, run_id: int) -> RunSpec:
        async with _translated("get run"):
            found = await self._client.get(self._keys.meta(run_id))
        if found is None:
            raise UnknownRun(f"no run {run_id}")
        return RunSpec.from_json(found.value)

    async def list_runs(self) -> list[RunSpec]:
        async with _translated("list runs"):
            found = await self._client.get_prefix(self._keys.runs())
        return [RunSpec.from_json(kv.value) for kv in found if kv.key.endswith(b"/meta")]

    async def _views(self, run_id: int) -> dict[str, _ShardView]:
        prefix = self._keys.shards(run_id)
        async with _translated("list shards"):
            found = await self._client.get_prefix(prefix)
        views: dict[str, _ShardView] = {}
        for kv in found:
            shard_id, _, part = kv.key[len(prefix) :].decode().rpartition("/")
            view = views.setdefault(shard_id, _ShardView())
            if part == "spec":
                view.raw_spec = kv.value
            elif part == "state":
                view.raw_state = kv.value
                view.state_revision = kv.mod_revision
            elif part == "owner":
                view.owner = kv.value
        return {k: v for k, v in views.items() if v.raw_spec and v.raw_state}

    async def list_shards(self, run_id: int) -> list[ShardStatus]:
        await self.get_run(run_id)
        statuses = []
        for _shard_id, view in sorted((await self._views(run_id)).items()):
            owner = _owner_worker(view.owner) if view.owner is not None else None
            statuses.append(ShardStatus(run_id, view.spec, view.record, owner))
        return statuses

    async def open_session(self, *, worker_id: int, ttl_s: int) -> EtcdSession:
        async with _translated("grant lease"):
            lease = await self._client.lease(ttl_s)
        return EtcdSession(self, lease=lease, worker_id=worker_id, ttl_s=ttl_s)

    # -- used by sessions -------------------------------------------------------------

    async def _acquire(self, session: EtcdSession, run_id: int) -> ShardLease | None:
        await self.get_run(run_id)
        views = await self._views(run_id)
        txn = self._client.transactions
        # Only shards that may be taken are decoded: in a long run most are done.
        records = {k: v.record for k, v in views.items() if record_state(v.raw_state) in _TAKEABLE}
        owned = {shard_id for shard_id, view in views.items() if view.owner is not None}
        for shard_id in candidates(records, owned, session.worker_id):
            view = views[shard_id]
            taken = claimed(records[shard_id], session.worker_id)
            token = lease_token(session.worker_id, session.lease_id, taken.fence)
            owner_key = self._keys.shard(run_id, shard_id, "owner")
            state_key = self._keys.shard(run_id, shard_id, "state")
            async with _translated("acquire"):
                won, _ = await self._client.transaction(
                    compare=[
                        txn.version(owner_key) == 0,
                        txn.mod(state_key) == view.state_revision,
                    ],
                    success=[
                        txn.put(owner_key, token.encode(), lease=session.lease_id),
                        txn.put(state_key, taken.to_json()),
                    ],
                    failure=[],
                )
            if won:
                return ShardLease(
                    run_id, view.spec, taken.fence, session.worker_id, taken.cursor, token
                )
        return None

    async def _update(
        self, lease: ShardLease, change: dict[str, Any], *, keep_owner: bool, what: str
    ) -> None:
        """Rewrite the shard's record if `lease` still owns it; `LeaseLost` otherwise."""
        txn = self._client.transactions
        owner_key = self._keys.shard(lease.run_id, lease.spec.shard_id, "owner")
        state_key = self._keys.shard(lease.run_id, lease.spec.shard_id, "state")
        async with _translated(what):
            current = await self._client.get(state_key)
            if current is None:
                raise LeaseLost(f"shard {lease.spec.shard_id} of run {lease.run_id} is gone")
            record = replace(ShardRecord.from_json(current.value), **change)
            ops = [txn.put(state_key, record.to_json())]
            if not keep_owner:
                ops.append(txn.delete(owner_key))
            applied, _ = await self._client.transaction(
                compare=[
                    txn.value(owner_key) == lease.token.encode(),
                    txn.mod(state_key) == current.mod_revision,
                ],
                success=ops,
                failure=[],
            )
        if not applied:
            raise LeaseLost(
                f"{what} rejected: shard {lease.spec.shard_id} of run {lease.run_id} is no "
                f"longer held under fence {lease.fence}"
            )

    async def _renew(self, session: EtcdSession) -> None:
        async with _translated("lease keepalive"):
            reply = await self._client.refresh_lease(session.lease_id)
        if reply is None or reply.TTL <= 0:
            raise LeaseLost(f"lease of worker {session.worker_id} expired")

    async def _revoke(self, session: EtcdSession) -> None:
        async with _translated("lease revoke"):
            try:
                await self._client.revoke_lease(session.lease_id)
            except aetcd.exceptions.ClientError:
                # Already expired (NotFound): nothing left to revoke.
                return


def _owner_worker(token: bytes) -> int | None:
    for part in token.decode(errors="replace").split(";"):
        name, _, value = part.partition("=")
        if name == "worker" and value.isdigit():
            return int(value)
    return None


class EtcdSession:
    def __init__(
        self, coordinator: EtcdCoordinator, *, lease: Any, worker_id: int, ttl_s: int
    ) -> None:
        self._coordinator = coordinator
        self.lease_id: int = lease.id
        self._worker_id = worker_id
        self._ttl_s = ttl_s

    @property
    def worker_id(self) -> int:
        return self._worker_id

    @property
    def ttl_s(self) -> int:
        return self._ttl_s

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
