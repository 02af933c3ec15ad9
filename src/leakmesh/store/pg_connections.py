"""Where a `PostgresDatastore` gets its connections: a pool for a long-lived
user that writes from several tasks at once (a fleet worker), or one connection
for a command that makes one call at a time (`leakmesh scan --store`, `findings`,
`db copy`), which then neither imports the pool nor opens a second connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol

import psycopg
from msgspec import Struct
from psycopg.rows import TupleRow

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

Connection = psycopg.AsyncConnection[TupleRow]

POOL_TIMEOUT_S = 30.0


class PoolSize(Struct, frozen=True):
    min_size: int = 1
    max_size: int = 8


DEFAULT_POOL = PoolSize()


class SourceClosed(psycopg.OperationalError):
    """The datastore was closed; no more connections."""


class ConnectionSource(Protocol):
    def connection(self) -> AbstractAsyncContextManager[Connection]: ...

    async def check(self) -> None:
        """Replace connections found broken (a restarted server)."""
        ...

    async def close(self) -> None: ...


class OneConnection:
    """One connection, lent to one caller at a time."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        async with self._lock:
            if self._conn.closed:
                raise SourceClosed("the datastore is closed")
            yield self._conn

    async def check(self) -> None:
        return None  # one connection: the next statement finds it broken or not

    async def close(self) -> None:
        await self._conn.close()


class PooledConnections:
    def __init__(
        self, pool: AsyncConnectionPool[Connection], *, dsn: str, kwargs: dict[str, Any]
    ) -> None:
        self._pool = pool
        self._dsn = dsn
        self._kwargs = kwargs

    @classmethod
    async def open(cls, dsn: str, *, size: PoolSize, kwargs: dict[str, Any]) -> PooledConnections:
        from psycopg_pool import AsyncConnectionPool

        pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            dsn,
            kwargs=kwargs,
            min_size=size.min_size,
            max_size=size.max_size,
            open=False,
            name="leakmesh",
            timeout=POOL_TIMEOUT_S,
        )
        try:
            await pool.open(wait=True, timeout=POOL_TIMEOUT_S)
        except BaseException:
            await pool.close()
            raise
        return cls(pool, dsn=dsn, kwargs=kwargs)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        from psycopg_pool import PoolClosed

        try:
            async with self._pool.connection() as conn:
                yield conn
        except PoolClosed:
            raise SourceClosed("the datastore is closed") from None

    async def check(self) -> None:
        from psycopg_pool import PoolClosed

        # A server still down refuses a direct connection at once, where the pool
        # would wait out its timeout for one.
        probe = await psycopg.AsyncConnection.connect(self._dsn, **self._kwargs)
        await probe.close()
        try:
            await self._pool.check()
        except PoolClosed:
            raise SourceClosed("the datastore is closed") from None

    async def close(self) -> None:
        await self._pool.close()
