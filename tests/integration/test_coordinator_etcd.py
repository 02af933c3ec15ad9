"""The etcd coordinator against the coordinator contract, on a real etcd."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from contract.coordinator_contract import CoordinationKit, CoordinatorContract, a_run, shards
from integration.etcd_server import EtcdServer, kill_etcd, restart_etcd, start_etcd, stop_etcd
from integration.pg_server import free_port
from integration.server_setup import started
from leakmesh.coordination.errors import CoordinatorUnavailable
from leakmesh.coordination.etcd import EtcdCoordinator
from leakmesh.coordination.models import Progress, ShardState
from leakmesh.coordination.protocols import Coordinator


@pytest.fixture
def coordination(etcd_server: EtcdServer, etcd_namespace: str) -> CoordinationKit:
    async def coordinator() -> Coordinator:
        return await EtcdCoordinator.connect(
            [("127.0.0.1", etcd_server.client_port)], namespace=etcd_namespace
        )

    async def let_pass(seconds: float) -> None:
        await asyncio.sleep(seconds)

    return CoordinationKit(coordinator, let_pass)


class TestEtcdCoordinator(CoordinatorContract):
    pass


def test_connect_skips_dead_endpoints_and_fails_closed_when_none_answers(
    etcd_server: EtcdServer, etcd_namespace: str
) -> None:
    dead = ("127.0.0.1", free_port())

    async def scenario() -> None:
        coordinator = await EtcdCoordinator.connect(
            [dead, ("127.0.0.1", etcd_server.client_port)], namespace=etcd_namespace, timeout_s=1
        )
        assert coordinator.endpoint[1] == etcd_server.client_port
        await coordinator.close()
        with pytest.raises(CoordinatorUnavailable, match="no etcd endpoint answered"):
            await EtcdCoordinator.connect([dead], namespace=etcd_namespace, timeout_s=1)

    asyncio.run(scenario())


T = TypeVar("T")


async def until_answered(call: Callable[[], Awaitable[T]], *, within_s: float) -> T:
    """`call()` retried while etcd is unavailable, as the worker's backoff does;
    fails the test if no answer comes within `within_s`."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            return await call()
        except CoordinatorUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


def test_a_session_carries_on_through_another_member_when_its_endpoint_dies(
    etcd_cluster: list[EtcdServer], etcd_namespace: str
) -> None:
    """Three members; the one the worker talks to is killed mid-lease. The call
    that finds it gone fails as unavailable (the worker retries), the next goes to
    a live member, and the same lease and fence carry on: the shard is completed."""
    endpoints = [("127.0.0.1", s.client_port) for s in etcd_cluster]

    async def scenario() -> None:
        coordinator = await EtcdCoordinator.connect(
            endpoints, namespace=etcd_namespace, timeout_s=2
        )
        await coordinator.create_run(a_run(1), shards(2))
        session = await coordinator.open_session(worker_id=1, ttl_s=10)
        lease = await session.acquire(1)
        assert lease is not None
        first = coordinator.endpoint
        kill_etcd(next(s for s in etcd_cluster if s.client_port == first[1]))

        # The call that finds the member gone fails; if it was the leader, calls
        # to the others may fail too until they have elected one (about a second).
        # The worker retries either way; the lease must outlive it.
        await until_answered(session.renew, within_s=8)
        assert coordinator.endpoint != first
        await session.checkpoint(lease, cursor="k01", progress=Progress(items=1, bytes=1))
        await session.complete(lease, progress=Progress(items=2, bytes=2))
        states = {s.spec.shard_id: s.record for s in await coordinator.list_shards(1)}
        assert states[lease.spec.shard_id].state is ShardState.DONE
        assert states[lease.spec.shard_id].fence == lease.fence
        await session.close()
        await coordinator.close()

    asyncio.run(scenario())


def test_one_endpoint_coming_back_is_used_again(etcd_namespace: str) -> None:
    """With a single endpoint, calls fail while it is down and succeed once it is
    back (a new connection each time until one answers)."""
    server = started(start_etcd)

    async def scenario() -> None:
        nonlocal server
        coordinator = await EtcdCoordinator.connect(
            [("127.0.0.1", server.client_port)], namespace=etcd_namespace, timeout_s=1
        )
        await coordinator.create_run(a_run(1), shards(1))
        kill_etcd(server)
        for _ in range(2):
            with pytest.raises(CoordinatorUnavailable):
                await coordinator.get_run(1)
        server = restart_etcd(server)
        assert await until_answered(lambda: coordinator.get_run(1), within_s=5) == a_run(1)
        await coordinator.close()

    try:
        asyncio.run(scenario())
    finally:
        stop_etcd(server)
