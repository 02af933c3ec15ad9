"""`leakmesh db copy`: move everything from one datastore into another (SQLite to
PostgreSQL when one machine is outgrown), then verify it arrived.

Tables are copied in dependency order with their ids; the destination must be
empty. Verification compares, per table, the row count and a BLAKE3 digest of
the rows in a canonical form (timestamps as UTC ISO-8601), so a copy between
dialects verifies too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import blake3
from msgspec import Struct

from leakmesh.store.errors import StoreError

TABLES = (
    "runs",
    "findings",
    "occurrences",
    "observations",
    "triage_events",
    "done_ledger",
    "git_frontier",
    "shard_fences",
)
"""In dependency order: a row's references are copied before it."""

_TIMESTAMP_COLUMNS = {
    "runs": (5, 6),
    "findings": (7, 8),
    "observations": (4,),
    "triage_events": (5,),
    "done_ledger": (4,),
    "git_frontier": (4,),
    "shard_fences": (4,),
}
COPY_BATCH = 5_000


class TableTransfer(Protocol):
    async def export_rows(self, table: str) -> list[tuple[Any, ...]]: ...

    async def import_rows(self, table: str, rows: Sequence[tuple[Any, ...]]) -> None: ...

    async def after_import(self) -> None:
        """Bring id sequences past the copied ids."""
        ...


class TableCheck(Struct, frozen=True):
    table: str
    rows: int
    digest: str


def _canonical(value: Any, *, timestamp: bool) -> str:
    if value is None:
        return "\x00"
    if timestamp:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return moment.astimezone(UTC).isoformat(timespec="microseconds")
    return str(value)


def table_check(table: str, rows: Sequence[tuple[Any, ...]]) -> TableCheck:
    stamps = _TIMESTAMP_COLUMNS.get(table, ())
    hasher = blake3.blake3()
    for row in rows:
        fields = [_canonical(v, timestamp=i in stamps) for i, v in enumerate(row)]
        hasher.update("\x1f".join(fields).encode() + b"\x1e")
    return TableCheck(table, len(rows), hasher.hexdigest())


async def copy_datastore(source: TableTransfer, destination: TableTransfer) -> list[TableCheck]:
    """Copy every table, then verify each; `StoreError` when anything differs."""
    for table in TABLES:
        if await destination.export_rows(table):
            raise StoreError(f"destination is not empty (table {table} has rows)")
    expected = []
    for table in TABLES:
        rows = await source.export_rows(table)
        expected.append(table_check(table, rows))
        for start in range(0, len(rows), COPY_BATCH):
            await destination.import_rows(table, rows[start : start + COPY_BATCH])
    await destination.after_import()
    for check in expected:
        arrived = table_check(check.table, await destination.export_rows(check.table))
        if arrived != check:
            raise StoreError(
                f"copy verification failed for {check.table}: {check.rows} rows sent, "
                f"{arrived.rows} found, digests {'match' if arrived.digest == check.digest else 'differ'}"
            )
    return expected
