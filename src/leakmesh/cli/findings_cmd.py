"""`leakmesh findings list|show|triage --store=DSN`: what a datastore holds, and triage."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from msgspec.structs import asdict

from leakmesh.cli.common import EXIT_CLEAN, SCHEMA_POLICY, STORE, TENANT_ID, UsageError
from leakmesh.store.errors import StoreError
from leakmesh.store.factory import open_datastore
from leakmesh.store.migrate import MigrationPolicy
from leakmesh.store.models import FindingQuery, TriageStatus
from leakmesh.worker.settings import ConfigError, Option, choice, int_in_range

if TYPE_CHECKING:
    from leakmesh.store.protocols import Datastore

T = TypeVar("T")
STATUSES = tuple(s.value for s in TriageStatus)
FORMAT = Option("--format", "LEAKMESH_FORMAT", choice("text", "json"), "text")
RUN_ID = Option[int | None]("--run", "LEAKMESH_RUN_ID", int_in_range(1, 1 << 62), None)


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], *, summary: str
) -> None:
    parser = subparsers.add_parser("findings", help=summary)
    commands = parser.add_subparsers(dest="findings_command", required=True, metavar="COMMAND")
    listing = commands.add_parser("list", help="list findings (one line each, or JSON)")
    listing.add_argument("--status", choices=STATUSES, help="only findings with this triage status")
    listing.add_argument("--rule", metavar="RULE_ID", help="only findings of this rule")
    listing.add_argument(
        "--repo", metavar="REPO", help="only findings seen in this scanned directory or repository"
    )
    listing.add_argument("--run", metavar="RUN_ID", help="only findings observed by this run")
    listing.add_argument("--format", help="text (default) or json")
    listing.set_defaults(handler=run_list)
    show = commands.add_parser("show", help="one finding: its occurrences and triage history")
    show.add_argument("fingerprint")
    show.add_argument("--format", help="text (default) or json")
    show.set_defaults(handler=run_show)
    triage = commands.add_parser("triage", help="set a finding's triage status (history is kept)")
    triage.add_argument("fingerprint")
    triage.add_argument("--status", required=True, choices=STATUSES)
    triage.add_argument("--note", default="", help="why (kept in the history)")
    triage.set_defaults(handler=run_triage)
    for command in (listing, show, triage):
        command.add_argument(
            "--store", metavar="DSN", help="sqlite:///path.db or postgresql://… [LEAKMESH_STORE]"
        )
        command.add_argument(
            "--schema-policy",
            metavar="POLICY",
            help="validate (default) or dev-auto-migrate [LEAKMESH_SCHEMA_POLICY]",
        )


def with_store(args: argparse.Namespace, action: Callable[[Datastore, str], Awaitable[T]]) -> T:
    dsn = STORE.resolve(args.store, os.environ)
    if dsn is None:
        raise UsageError("findings commands need --store=DSN (or LEAKMESH_STORE)")
    policy = MigrationPolicy(SCHEMA_POLICY.resolve(args.schema_policy, os.environ))
    tenant = TENANT_ID.resolve(None, os.environ).hex()

    async def go() -> T:
        store = await open_datastore(dsn, policy=policy)
        try:
            return await action(store, tenant)
        finally:
            await store.close()

    try:
        return asyncio.run(go())
    except StoreError as exc:
        raise ConfigError(str(exc)) from None


def run_list(args: argparse.Namespace) -> int:
    query_status = TriageStatus(args.status) if args.status else None

    async def action(store: Datastore, tenant: str) -> list[dict[str, object]]:
        query = FindingQuery(
            tenant=tenant,
            status=query_status,
            rule_id=args.rule,
            repo=args.repo,
            run_id=RUN_ID.resolve(args.run, os.environ),
        )
        return [asdict(f) | {"status": f.status.value} for f in await store.list_findings(query)]

    findings = with_store(args, action)
    if FORMAT.resolve(args.format, os.environ) == "json":
        json.dump({"findings": findings}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_CLEAN
    for f in findings:
        print(
            f"{f['fingerprint']}  {f['status']:<14} {f['rule_id']:<32} {f['preview']:<14} occurrences={f['occurrences']}"
        )
    print(f"{len(findings)} finding{'s' if len(findings) != 1 else ''}")
    return EXIT_CLEAN


def run_show(args: argparse.Namespace) -> int:
    async def action(store: Datastore, tenant: str) -> dict[str, object]:
        occurrences = await store.occurrences(tenant, args.fingerprint)
        if not occurrences:
            raise ConfigError(f"no finding with fingerprint {args.fingerprint}")
        [finding] = [
            f
            for f in await store.list_findings(
                FindingQuery(tenant=tenant, rule_id=occurrences[0].rule_id)
            )
            if f.fingerprint == args.fingerprint
        ]
        history = await store.triage_history(tenant, args.fingerprint)
        return {
            "finding": asdict(finding) | {"status": finding.status.value},
            "occurrences": [asdict(o) for o in occurrences],
            "triage_history": [asdict(e) | {"status": e.status.value} for e in history],
        }

    shown = with_store(args, action)
    if FORMAT.resolve(args.format, os.environ) == "json":
        json.dump(shown, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_CLEAN
    finding = shown["finding"]
    assert isinstance(finding, dict)
    print(f"{finding['fingerprint']}  {finding['rule_name']} ({finding['rule_id']})")
    print(
        f"  status: {finding['status']}  preview: {finding['preview']}  confidence: {finding['confidence']}"
    )
    print(f"  first seen: {finding['first_seen']}  last seen: {finding['last_seen']}")
    for o in shown["occurrences"]:  # type: ignore[attr-defined]
        where = f"{o['repo']}: {o['path']}:{o['line']}:{o['column']}"
        commit = (
            f"  commit {o['commit'][:12]} {o['author_name']} <{o['author_email']}> {o['commit_date']}"
            if o["commit"]
            else ""
        )
        print(f"  at {where}{commit}")
    for e in shown["triage_history"]:  # type: ignore[attr-defined]
        print(f"  triage {e['at']}: {e['status']}" + (f" — {e['note']}" if e["note"] else ""))
    return EXIT_CLEAN


def run_triage(args: argparse.Namespace) -> int:
    status = TriageStatus(args.status)

    async def action(store: Datastore, tenant: str) -> None:
        await store.triage(tenant, args.fingerprint, status, note=args.note)

    with_store(args, action)
    print(f"{args.fingerprint}: {status.value}")
    return EXIT_CLEAN
