"""The etcd coordinator against the coordinator contract, on a real etcd."""

from __future__ import annotations

import asyncio

import pytest

from contract.coordinator_contract import CoordinationKit, CoordinatorContract
from integration.etcd_server import EtcdServer
from integration.pg_server import free_port
from leakmesh.coordination.errors import CoordinatorUnavailable
from leakmesh.coordination.etcd import EtcdCoordinator
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
