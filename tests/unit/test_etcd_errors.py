"""How errors from the etcd client become leakmesh's coordination errors, and
what becomes of a client left behind when calls move to another member."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import aetcd.exceptions
import pytest

from leakmesh.coordination import etcd as etcd_module
from leakmesh.coordination.errors import CoordinationError, CoordinatorUnavailable, LeaseLost
from leakmesh.coordination.etcd import EtcdCoordinator
from leakmesh.coordination.etcd_errors import translated


def translate(exc: Exception) -> Exception:
    async def raise_inside() -> None:
        async with translated("lease keepalive"):
            raise exc

    with pytest.raises(CoordinationError) as caught:
        asyncio.run(raise_inside())
    return caught.value


@pytest.mark.parametrize(
    "exc",
    [
        aetcd.exceptions.ConnectionFailedError("connection refused"),
        aetcd.exceptions.ConnectionTimeoutError("deadline"),
        aetcd.exceptions.InternalError("Internal error from Core"),
        TimeoutError(),
        # Sent while the cluster elects a leader, as UNKNOWN or FAILED_PRECONDITION.
        aetcd.exceptions.ClientError("context deadline exceeded"),
        aetcd.exceptions.PreconditionFailedError("etcdserver: not leader"),
        aetcd.exceptions.ClientError("etcdserver: leader changed"),
        aetcd.exceptions.ClientError("etcdserver: request timed out"),
    ],
)
def test_a_member_gone_or_an_election_under_way_is_retried(exc: Exception) -> None:
    assert type(translate(exc)) is CoordinatorUnavailable


def test_an_expired_lease_is_lost_not_retried() -> None:
    assert (
        type(translate(aetcd.exceptions.ClientError("etcdserver: requested lease not found")))
        is LeaseLost
    )


@pytest.mark.parametrize(
    "exc",
    [
        aetcd.exceptions.InvalidArgumentError("etcdserver: key is not provided"),
        aetcd.exceptions.UnauthenticatedError("etcdserver: invalid auth token"),
    ],
)
def test_other_errors_end_the_call(exc: Exception) -> None:
    assert type(translate(exc)) is CoordinationError


class FakeClient:
    """Stands in for aetcd.Client: answers `status` unless its port is down."""

    down: ClassVar[set[int]] = set()

    def __init__(self, *, host: str, port: int, timeout: int) -> None:
        self.port = port
        self.closed = False

    async def status(self) -> None:
        if self.port in self.down:
            raise aetcd.exceptions.ConnectionFailedError("connection refused")

    async def close(self) -> None:
        self.closed = True


def test_a_client_left_behind_by_a_move_is_closed_once_its_calls_timed_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(etcd_module.aetcd, "Client", FakeClient)
    FakeClient.down = set()

    async def scenario() -> None:
        coordinator = await EtcdCoordinator.connect(
            [("127.0.0.1", 1), ("127.0.0.1", 2)], namespace="/t", timeout_s=0
        )
        first = coordinator._client
        FakeClient.down = {1}
        with pytest.raises(CoordinatorUnavailable):
            await coordinator.health()
        await coordinator.health()  # moved to the second member
        assert coordinator.endpoint == ("127.0.0.1", 2)
        assert not first.closed  # a call may still be in flight on it
        await asyncio.sleep(1.2)  # its calls' timeout (0 s here) and a second
        assert first.closed
        await coordinator.close()
        assert coordinator._client is None

    asyncio.run(scenario())
