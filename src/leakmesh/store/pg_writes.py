"""Statements run inside a PostgreSQL datastore transaction: the shard fence
check and the COPY-based upsert of one chunk of occurrences, and the small
conversions they share with `postgres.py`.

An upsert COPYs its rows into a session-private temporary table and moves them on
with three statements (see the comments of the queries in
``queries/postgresql.sql``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

import psycopg
from psycopg.rows import TupleRow

from leakmesh.store.errors import StaleFence
from leakmesh.store.queries import load_queries

if TYPE_CHECKING:
    from collections.abc import Mapping

    from leakmesh.store.models import (
        LedgerStatus,
        ObservationContext,
        OccurrenceRecord,
        ShardFence,
    )

DIALECT = "postgresql"
Q = load_queries(DIALECT)

T = TypeVar("T")
Cursor = psycopg.AsyncCursor[TupleRow]

_OccurrenceKey = tuple[str, str, str, str, int, int, str, str]


async def hold(cursor: Cursor, fence: ShardFence | None) -> None:
    """Check and raise the shard fence inside the caller's transaction."""
    if fence is None:
        return
    await cursor.execute(Q["hold_fence"], (fence.tenant, fence.run_id, fence.shard_id, fence.epoch))
    if await cursor.fetchone() is None:
        raise StaleFence.of(fence)


def ledger_copy_rows(scope: int, statuses: Mapping[str, LedgerStatus]) -> str | None:
    """The batch as rows of COPY text, sorted by id (one lock order for concurrent
    writers); None when an id holds a character COPY would need escaped (the
    upsert, which takes any text, marks those)."""
    tails = {status: f"\t{int(status)}\n" for status in set(statuses.values())}
    head = f"{scope}\t"
    text = "".join([head + oid + tails[statuses[oid]] for oid in sorted(statuses)])
    if text.count("\t") != 2 * len(statuses) or text.count("\n") != len(statuses):
        return None
    if "\\" in text or "\r" in text:
        return None
    return text


async def copy_new_ledger_rows(cursor: Cursor, rows: str) -> bool:
    """COPY rows straight into the ledger, under a savepoint; False, with nothing
    written, when one of them is there already."""
    try:
        async with cursor.connection.transaction(), cursor.copy(Q["copy_ledger"]) as copy:
            await copy.write(rows)
    except psycopg.errors.UniqueViolation:
        return False
    return True


async def upsert_chunk(
    cursor: Cursor, chunk: Sequence[OccurrenceRecord], context: ObservationContext, *, first: bool
) -> tuple[int, int, int]:
    """Findings, occurrences and observations of one chunk: COPY it into the
    session's batch table, then insert from there (see the queries' comments)."""
    await cursor.execute(Q["create_upsert_batch"] if first else Q["clear_upsert_batch"])
    async with cursor.copy(Q["copy_upsert_batch"]) as copy:
        for seq, o in enumerate(chunk):
            await copy.write_row(
                (
                    seq,
                    *o.finding_columns(),
                    o.repo,
                    o.object_id,
                    o.start,
                    o.end,
                    o.path,
                    o.commit,
                    *o.detail_columns(),
                )
            )
    await cursor.execute(Q["upsert_findings"])
    new_findings = await scalar(cursor)
    observation = (context.run_id, context.policy_hash, context.fence)
    await cursor.execute(Q["insert_occurrences"], observation)
    row = await cursor.fetchone()
    assert row is not None
    new_occurrences, new_observations = int(row[0]), int(row[1])
    if new_occurrences < len({_key(o) for o in chunk}):  # some existed: look them up
        await cursor.execute(Q["observe_occurrences"], observation)
        new_observations += max(cursor.rowcount, 0)
    return new_findings, new_occurrences, new_observations


async def scalar(cursor: Cursor) -> int:
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


def _key(o: OccurrenceRecord) -> _OccurrenceKey:
    return (o.tenant, o.fingerprint, o.repo, o.object_id, o.start, o.end, o.path, o.commit)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
