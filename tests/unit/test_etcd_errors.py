"""How errors from the etcd client become leakmesh's coordination errors."""

from __future__ import annotations

import asyncio

import aetcd.exceptions
import pytest

from leakmesh.coordination.errors import CoordinationError, CoordinatorUnavailable, LeaseLost
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
