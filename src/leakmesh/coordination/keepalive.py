"""Keep a session's lease alive at TTL/3 and say at once when it is lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from leakmesh.coordination.errors import CoordinatorUnavailable, LeaseLost

if TYPE_CHECKING:
    from leakmesh.coordination.protocols import CoordinatorSession

KEEPALIVES_PER_TTL = 3


async def keep_alive(
    session: CoordinatorSession,
    *,
    lost: asyncio.Event,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Renew until cancelled. Sets `lost` and returns when the lease expired, or
    when etcd has not confirmed a renewal for a whole TTL (after that the lease
    may have expired without our hearing of it)."""
    interval = session.ttl_s / KEEPALIVES_PER_TTL
    confirmed = clock()
    while True:
        await asyncio.sleep(interval)
        try:
            await session.renew()
        except LeaseLost:
            lost.set()
            return
        except CoordinatorUnavailable:
            if clock() - confirmed >= session.ttl_s:
                lost.set()
                return
            continue
        confirmed = clock()
