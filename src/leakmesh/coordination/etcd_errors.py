"""The edge between leakmesh and aetcd: the client's errors translated into
`CoordinationError`s (retried, lease lost, or fatal)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aetcd.exceptions

from leakmesh.coordination.errors import CoordinationError, CoordinatorUnavailable, LeaseLost

# Errors a member returns while the cluster has no leader or is electing one.
# etcd sends some as UNAVAILABLE (translated by aetcd) but others as UNKNOWN or
# FAILED_PRECONDITION with only the message to tell them apart: a lease
# keepalive forwarded to a leader that died answers "context deadline exceeded".
TRANSIENT_SERVER_ERRORS = (
    "context deadline exceeded",
    "etcdserver: not leader",
    "etcdserver: no leader",
    "etcdserver: leader changed",
    "etcdserver: request timed out",
)


@asynccontextmanager
async def translated(what: str) -> AsyncIterator[None]:
    try:
        yield
    except (
        aetcd.exceptions.ConnectionFailedError,
        aetcd.exceptions.ConnectionTimeoutError,
        # gRPC's INTERNAL ("Internal error from Core"): a call cut off when its
        # connection died, seen when a member is killed mid-call. Retried like
        # an unreachable member, not fatal.
        aetcd.exceptions.InternalError,
        TimeoutError,
    ) as exc:
        raise CoordinatorUnavailable(
            f"etcd unavailable during {what}: {type(exc).__name__}"
        ) from None
    except aetcd.exceptions.ClientError as exc:
        message = str(exc)
        if "lease not found" in message:
            raise LeaseLost(f"{what}: the worker's lease has expired") from None
        if any(fragment in message for fragment in TRANSIENT_SERVER_ERRORS):
            raise CoordinatorUnavailable(f"etcd unavailable during {what}: {message}") from None
        raise CoordinationError(f"etcd error during {what}: {type(exc).__name__}: {exc}") from None
