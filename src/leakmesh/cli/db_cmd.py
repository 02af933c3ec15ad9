"""`leakmesh db status|migrate|validate --store=DSN` and `leakmesh db copy --from --to`."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from leakmesh.cli.common import EXIT_CLEAN, EXIT_FINDINGS, STORE, UsageError
from leakmesh.cli.logs import log_event
from leakmesh.store.copy import TableCheck, copy_datastore
from leakmesh.store.dsn import parse_dsn, redact
from leakmesh.store.errors import StoreError
from leakmesh.store.factory import open_datastore
from leakmesh.store.migrate import MigrationPolicy, SchemaStatus
from leakmesh.worker.settings import ConfigError


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], *, summary: str
) -> None:
    parser = subparsers.add_parser("db", help=summary)
    commands = parser.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    for name, text in (
        ("status", "show the schema version and pending migrations"),
        ("migrate", "apply pending migrations (idempotent)"),
        ("validate", "exit 1 unless the schema is current and its checksums match"),
    ):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument(
            "--store", metavar="DSN", help="sqlite:///path.db or postgresql://… [LEAKMESH_STORE]"
        )
        command.set_defaults(handler=run, db_action=name)
    copy = commands.add_parser(
        "copy",
        help="copy a datastore into another (e.g. SQLite into PostgreSQL) and verify it",
        description="Copy every table of --from into the empty datastore --to (its schema is "
        "created), then verify row counts and checksums of every table. With --drop-source, a "
        "SQLite source file is deleted only after the copy verified.",
    )
    copy.add_argument(
        "--from", dest="source", required=True, metavar="DSN", help="the datastore to copy"
    )
    copy.add_argument(
        "--to", dest="destination", required=True, metavar="DSN", help="an empty datastore"
    )
    copy.add_argument(
        "--drop-source",
        action="store_true",
        help="delete the SQLite source file after a verified copy",
    )
    copy.set_defaults(handler=run_copy)


async def _open_raw(dsn: str) -> object:
    """The datastore without applying the schema policy (status/migrate need to
    look at a schema that is missing or behind)."""
    parsed = parse_dsn(dsn)
    if parsed.kind == "sqlite":
        from leakmesh.store.sqlite import SqliteDatastore

        return await SqliteDatastore.connect(parsed.path)
    from leakmesh.store.postgres import (
        PostgresDatastore,  # type: ignore[import-not-found,unused-ignore]
    )

    store: object = await PostgresDatastore.connect(parsed.value)
    return store


async def _act(dsn: str, action: str) -> tuple[SchemaStatus, list[int]]:
    store = await _open_raw(dsn)
    try:
        applied: list[int] = []
        if action == "migrate":
            applied = await store.migrate()  # type: ignore[attr-defined]
        status: SchemaStatus = await store.status()  # type: ignore[attr-defined]
        return status, applied
    finally:
        await store.close()  # type: ignore[attr-defined]


def run(args: argparse.Namespace) -> int:
    dsn = STORE.resolve(args.store, os.environ)
    if dsn is None:
        raise UsageError("db commands need --store=DSN (or LEAKMESH_STORE)")
    try:
        status, applied = asyncio.run(_act(dsn, args.db_action))
    except StoreError as exc:
        raise ConfigError(str(exc)) from None
    if args.db_action == "migrate":
        log_event("db.migrated", store=redact(dsn), applied=",".join(map(str, applied)) or "none")
    print(status.describe())
    for migration in status.pending:
        print(f"  pending: {migration.version:04d} {migration.name}")
    if args.db_action == "status":
        return EXIT_CLEAN
    return EXIT_CLEAN if status.ok else EXIT_FINDINGS


async def _copy(source_dsn: str, destination_dsn: str) -> list[TableCheck]:
    source = await open_datastore(source_dsn, policy=MigrationPolicy.VALIDATE)
    try:
        destination = await open_datastore(destination_dsn, policy=MigrationPolicy.DEV_AUTO_MIGRATE)
        try:
            return await copy_datastore(source, destination)  # type: ignore[arg-type]
        finally:
            await destination.close()
    finally:
        await source.close()


def run_copy(args: argparse.Namespace) -> int:
    source = parse_dsn(args.source)
    if args.drop_source and source.kind != "sqlite":
        raise UsageError("--drop-source deletes SQLite files only")
    if source.kind == "sqlite" and not source.path.exists():
        raise UsageError(f"no SQLite datastore at {source.path}")
    try:
        checks = asyncio.run(_copy(args.source, args.destination))
    except StoreError as exc:
        raise ConfigError(str(exc)) from None
    for check in checks:
        print(f"{check.table:<14} {check.rows:>10} rows  verified")
    if args.drop_source:
        for suffix in ("", "-wal", "-shm"):
            Path(str(source.path) + suffix).unlink(missing_ok=True)
    log_event(
        "db.copied",
        source=redact(args.source),
        destination=redact(args.destination),
        rows=sum(c.rows for c in checks),
        source_dropped=bool(args.drop_source),
    )
    return EXIT_CLEAN
