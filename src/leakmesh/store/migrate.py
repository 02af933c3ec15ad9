"""Embedded, numbered SQL migrations with a recorded checksum per version.

Policy `validate` (the default) fails closed when the schema is missing, behind,
ahead of this version of leakmesh, or when a recorded checksum differs from the
embedded file's (a truncated or corrupted checksum row differs too).
`dev-auto-migrate` applies what is missing, then validates; running it again
changes nothing.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import blake3
from msgspec import Struct

from leakmesh.store.errors import SchemaError

MIGRATIONS_TABLE = "leakmesh_migrations"


class MigrationPolicy(str, Enum):
    VALIDATE = "validate"
    DEV_AUTO_MIGRATE = "dev-auto-migrate"


class Migration(Struct, frozen=True):
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return blake3.blake3(self.sql.encode()).hexdigest()


class AppliedMigration(Struct, frozen=True):
    version: int
    name: str
    checksum: str


def embedded_migrations(dialect: str) -> list[Migration]:
    """``migrations/<dialect>/NNNN_name.sql``, in version order."""
    folder = Path(__file__).with_name("migrations") / dialect  # package data, as in queries.py
    found = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        number, _, rest = entry.name.removesuffix(".sql").partition("_")
        found.append(Migration(int(number), rest, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise SchemaError(f"embedded {dialect} migrations are not numbered 1..{len(found)}")
    return found


class SchemaStatus(Struct, frozen=True):
    current: int
    latest: int
    pending: list[Migration]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.pending and not self.problems

    def require_ok(self, where: str) -> None:
        """`SchemaError` naming `where` unless the schema is current."""
        if not self.ok:
            raise SchemaError(f"{where}: {self.describe()}")

    def describe(self) -> str:
        if self.ok:
            return f"schema at version {self.current} (latest), checksums match"
        parts = list(self.problems)
        if self.pending:
            parts.append(
                f"schema at version {self.current}, {len(self.pending)} migration(s) pending "
                f"up to {self.latest} (run `leakmesh db migrate`)"
            )
        return "; ".join(parts)


def compare(applied: list[AppliedMigration], embedded: list[Migration]) -> SchemaStatus:
    by_version = {m.version: m for m in embedded}
    problems = []
    for row in applied:
        expected = by_version.get(row.version)
        if expected is None:
            problems.append(
                f"schema version {row.version} is newer than this leakmesh knows "
                f"(latest {len(embedded)})"
            )
        elif row.checksum != expected.checksum:
            problems.append(
                f"migration {row.version} ({expected.name}) checksum differs from the recorded one"
            )
    done = {row.version for row in applied}
    current = max(done, default=0)
    pending = [m for m in embedded if m.version not in done]
    if applied and pending and pending[0].version < current:
        problems.append(f"migration {pending[0].version} is missing below version {current}")
    return SchemaStatus(current=current, latest=len(embedded), pending=pending, problems=problems)
