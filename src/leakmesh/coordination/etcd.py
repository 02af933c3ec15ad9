"""The coordinator on etcd (aetcd, asyncio).

The key layout and how fencing uses it are described in `etcd_keys.py`; aetcd's
errors are translated in `etcd_errors.py`; a worker's session is
`etcd_session.EtcdSession`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aetcd
import aetcd.exceptions
import aetcd.utils
from msgspec import Struct
from msgspec.structs import replace

from leakmesh.coordination.errors import (
    CoordinationError,
    CoordinatorUnavailable,
    LeaseLost,
    RunExists,
    UnknownRun,
)
from leakmesh.coordination.etcd_errors import translated
from leakmesh.coordination.etcd_keys import EtcdKeys
from leakmesh.coordination.etcd_session import EtcdSession
from leakmesh.coordination.models import (
    RunSpec,
    ShardLease,
    ShardRecord,
    ShardSpec,
    ShardState,
    ShardStatus,
    record_state,
)
from leakmesh.coordination.shards import OPEN_STATES, candidates, claimed, lease_token

DEFAULT_RPC_TIMEOUT_S = 5
_REGISTER_CONCURRENCY = 16

Endpoint = tuple[str, int]


class _ShardView(Struct):
    """A shard's spec and state keys as read."""

    raw_spec: bytes = b""
    raw_state: bytes = b""

    @property
    def spec(self) -> ShardSpec:
        return ShardSpec.from_json(self.raw_spec)

    @property
    def record(self) -> ShardRecord:
        return ShardRecord.from_json(self.raw_state)


class EtcdCoordinator:
    """Every call goes to one endpoint of the cluster. A call that finds it
    unreachable fails (`CoordinatorUnavailable`, the caller retries) and the next
    call first moves to the first endpoint, in order after it, that answers: etcd
    members share one keyspace and one lease table, so sessions, leases and fences
    carry on there."""

    def __init__(
        self,
        *,
        namespace: str,
        endpoints: Sequence[Endpoint],
        timeout_s: int = DEFAULT_RPC_TIMEOUT_S,
    ) -> None:
        if not endpoints:
            raise ValueError("no etcd endpoint")
        self._keys = EtcdKeys(namespace.rstrip("/").encode())
        self._endpoints = tuple(endpoints)
        self._timeout_s = timeout_s
        # Not connected yet: the first call moves, and a move starts after the
        # current endpoint, so the first one tried is endpoints[0].
        self._current = len(self._endpoints) - 1
        self._client: Any = None
        self._unreachable = True
        self._switching = asyncio.Lock()
        self._retired: dict[Any, asyncio.Task[None]] = {}
        """Clients left behind by a move, each with the task that closes it once
        the calls still in flight on it have had their timeout to end."""

    @property
    def endpoint(self) -> Endpoint:
        """The endpoint calls go to now."""
        return self._endpoints[self._current]

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
        """On the first endpoint that answers a status request; `CoordinatorUnavailable`
        naming them all when none does."""
        coordinator = cls(namespace=namespace, endpoints=endpoints, timeout_s=timeout_s)
        await coordinator._move("connect")
        return coordinator

    @asynccontextmanager
    async def _rpc(self, what: str) -> AsyncIterator[None]:
        if self._unreachable:
            await self._move(what)
        try:
            async with translated(what):
                yield
        except CoordinatorUnavailable:
            self._unreachable = True
            raise

    async def _move(self, what: str) -> None:
        """To the first endpoint after the current one (the current one last) that
        answers a status request."""
        async with self._switching:
            if not self._unreachable:
                return  # another call has moved already
            count = len(self._endpoints)
            for step in range(1, count + 1):
                index = (self._current + step) % count
                host, port = self._endpoints[index]
                client = aetcd.Client(host=host, port=port, timeout=self._timeout_s)
                try:
                    async with translated(what):
                        await client.status()
                except CoordinationError:
                    await client.close()
                    continue
                if self._client is not None:
                    self._retire(self._client)
                self._client, self._current, self._unreachable = client, index, False
                return
        shown = ", ".join(f"{h}:{p}" for h, p in self._endpoints)
        raise CoordinatorUnavailable(f"no etcd endpoint answered ({shown}) during {what}")

    async def health(self) -> None:
        async with self._rpc("health check"):
            await self._client.status()

    def _retire(self, client: Any) -> None:
        async def close_when_idle() -> None:
            await asyncio.sleep(self._timeout_s + 1)
            del self._retired[client]
            await client.close()

        self._retired[client] = asyncio.create_task(close_when_idle())

    async def close(self) -> None:
        for client, closing in list(self._retired.items()):
            closing.cancel()
            await client.close()
        self._retired.clear()
        if self._client is not None:
            await self._client.close()
        self._client = None

    # -- runs and shards ------------------------------------------------------------

    async def create_run(self, run: RunSpec, shards: Sequence[ShardSpec]) -> None:
        meta = self._keys.meta(run.run_id)
        async with self._rpc("create run"):
            if await self._client.get(meta) is not None:
                raise RunExists(f"run {run.run_id} already exists")
        # Shards first, the run last: a worker sees a run only once all its shards are there.
        await self.register_shards(run.run_id, shards)
        async with self._rpc("create run"):
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
            record = ShardRecord()
            async with limit, self._rpc("register shards"):
                await self._client.transaction(
                    compare=[txn.version(spec_key) == 0],
                    success=[
                        txn.put(spec_key, spec.to_json()),
                        txn.put(state_key, record.to_json()),
                        self._open_index(run_id, spec.shard_id, record.state),
                    ],
                    failure=[],
                )

        await asyncio.gather(*(register(spec) for spec in shards))

    async def get_run(self, run_id: int) -> RunSpec:
        async with self._rpc("get run"):
            found = await self._client.get(self._keys.meta(run_id))
        if found is None:
            raise UnknownRun(f"no run {run_id}")
        return RunSpec.from_json(found.value)

    async def list_runs(self) -> list[RunSpec]:
        async with self._rpc("list runs"):
            found = await self._client.get_prefix(self._keys.metas())
        return [RunSpec.from_json(kv.value) for kv in found]

    async def _read(
        self, *prefixes: bytes, what: str, exact: bool = False
    ) -> list[list[tuple[bytes, bytes, int]]]:
        """(key after its prefix, value, mod revision) under each prefix (or of each
        key, when `exact`), all read at one revision in one request."""
        txn = self._client.transactions
        async with self._rpc(what):
            _, replies = await self._client.transaction(
                compare=[],
                success=[
                    txn.get(prefix, None if exact else aetcd.utils.prefix_range_end(prefix))
                    for prefix in prefixes
                ],
                failure=[],
            )
        return [
            [(kv.key[len(prefix) :], value, kv.mod_revision) for value, kv in reply]
            for prefix, reply in zip(prefixes, replies, strict=True)
        ]

    async def list_shards(self, run_id: int) -> list[ShardStatus]:
        await self.get_run(run_id)
        shards, owners = await self._read(
            self._keys.shards(run_id), self._keys.index(run_id, "owner"), what="list shards"
        )
        views: dict[str, _ShardView] = {}
        for key, value, _ in shards:
            shard_id, _, part = key.decode().rpartition("/")
            view = views.setdefault(shard_id, _ShardView())
            if part == "spec":
                view.raw_spec = value
            elif part == "state":
                view.raw_state = value
        owner_of = {key.decode(): _owner_worker(value) for key, value, _ in owners}
        return [
            ShardStatus(run_id, view.spec, view.record, owner_of.get(shard_id))
            for shard_id, view in sorted(views.items())
            if view.raw_spec and view.raw_state
        ]

    async def _open_shards(self, run_id: int) -> tuple[dict[str, ShardState], set[str]]:
        """The run's open shards with their state, and the shards owned now."""
        opened, owners = await self._read(
            self._keys.index(run_id, "open"), self._keys.index(run_id, "owner"), what="acquire"
        )
        states = {key.decode(): ShardState(value.decode()) for key, value, _ in opened}
        return states, {key.decode() for key, _, _ in owners}

    async def is_complete(self, run_id: int) -> bool:
        async with self._rpc("run completion"):
            still_open = await self._client.get_prefix(
                self._keys.index(run_id, "open"), keys_only=True
            )
        if still_open:  # the usual answer while workers poll: one request
            return False
        await self.get_run(run_id)
        async with self._rpc("run completion"):
            shards = await self._client.get_prefix(self._keys.shards(run_id), keys_only=True)
        return bool(shards)

    async def open_session(self, *, worker_id: int, ttl_s: int) -> EtcdSession:
        async with self._rpc("grant lease"):
            lease = await self._client.lease(ttl_s)
        return EtcdSession(self, lease=lease, worker_id=worker_id, ttl_s=ttl_s)

    # -- used by sessions -------------------------------------------------------------

    def _open_index(self, run_id: int, shard_id: str, state: ShardState) -> Any:
        """The transaction op that makes the open index agree with `state`."""
        key = self._keys.open(run_id, shard_id)
        txn = self._client.transactions
        return txn.put(key, state.value.encode()) if state in OPEN_STATES else txn.delete(key)

    async def _acquire(self, session: EtcdSession, run_id: int) -> ShardLease | None:
        states, owned = await self._open_shards(run_id)
        if not states:
            await self.get_run(run_id)  # UnknownRun rather than "nothing to do"
            return None
        for shard_id in candidates(states, owned, session.worker_id):
            lease = await self._claim(session, run_id, shard_id)
            if lease is not None:
                return lease
        return None

    async def _claim(self, session: EtcdSession, run_id: int, shard_id: str) -> ShardLease | None:
        """Take `shard_id` if it is still takeable and unowned; None when another
        worker moved it first."""
        txn = self._client.transactions
        state_key = self._keys.shard(run_id, shard_id, "state")
        spec_key = self._keys.shard(run_id, shard_id, "spec")
        owner_key = self._keys.owner(run_id, shard_id)
        states, specs = await self._read(state_key, spec_key, what="acquire", exact=True)
        if not states or not specs:
            return None
        _, raw_state, state_revision = states[0]
        if record_state(raw_state) not in OPEN_STATES:
            return None
        taken = claimed(ShardRecord.from_json(raw_state), session.worker_id)
        token = lease_token(session.worker_id, session.lease_id, taken.fence)
        async with self._rpc("acquire"):
            won, _ = await self._client.transaction(
                compare=[txn.version(owner_key) == 0, txn.mod(state_key) == state_revision],
                success=[
                    txn.put(owner_key, token.encode(), lease=session.lease_id),
                    txn.put(state_key, taken.to_json()),
                    self._open_index(run_id, shard_id, taken.state),
                ],
                failure=[],
            )
        if not won:
            return None
        return ShardLease(
            run_id,
            ShardSpec.from_json(specs[0][1]),
            taken.fence,
            session.worker_id,
            taken.cursor,
            token,
        )

    async def _update(
        self, lease: ShardLease, change: dict[str, Any], *, keep_owner: bool, what: str
    ) -> None:
        """Rewrite the shard's record if `lease` still owns it; `LeaseLost` otherwise."""
        txn = self._client.transactions
        owner_key = self._keys.owner(lease.run_id, lease.spec.shard_id)
        state_key = self._keys.shard(lease.run_id, lease.spec.shard_id, "state")
        async with self._rpc(what):
            current = await self._client.get(state_key)
            if current is None:
                raise LeaseLost(f"shard {lease.spec.shard_id} of run {lease.run_id} is gone")
            record = replace(ShardRecord.from_json(current.value), **change)
            ops = [txn.put(state_key, record.to_json())]
            if not keep_owner:
                ops.append(txn.delete(owner_key))
                ops.append(self._open_index(lease.run_id, lease.spec.shard_id, record.state))
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
        async with self._rpc("lease keepalive"):
            reply = await self._client.refresh_lease(session.lease_id)
        if reply is None or reply.TTL <= 0:
            raise LeaseLost(f"lease of worker {session.worker_id} expired")

    async def _revoke(self, session: EtcdSession) -> None:
        async with self._rpc("lease revoke"):
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
