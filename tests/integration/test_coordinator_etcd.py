"""The etcd coordinator against the coordinator contract, on a real etcd."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from contract.coordinator_contract import CoordinationKit, CoordinatorContract, a_run, shards
from integration.etcd_server import (
    EtcdServer,
    EtcdServerError,
    kill_etcd,
    restart_etcd,
    start_etcd,
    start_etcd_cluster,
    stop_etcd,
)
from integration.pg_server import free_port
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


@pytest.fixture
def etcd_cluster() -> Iterator[list[EtcdServer]]:
    problem = ""
    try:
        servers = start_etcd_cluster(3)
    except EtcdServerError as exc:
        problem = str(exc)
    if problem:
        pytest.fail(problem, pytrace=False)
    try:
        yield servers
    finally:
        for server in servers:
            stop_etcd(server)


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

        failures = 0
        for _ in range(5):
            try:
                await session.renew()
                break
            except CoordinatorUnavailable:
                failures += 1
        assert failures <= 1, "a live member should answer the call after the failing one"
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
    server = start_etcd()

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
        assert await coordinator.get_run(1) == a_run(1)
        await coordinator.close()

    try:
        asyncio.run(scenario())
    finally:
        stop_etcd(server)
