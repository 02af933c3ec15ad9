"""`leakmesh report --store=DSN --format=…`: what a datastore holds, in the formats
of `scan` (built from stored occurrences: redacted previews, never raw secrets)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from leakmesh.cli import formats, sarif
from leakmesh.cli.common import EXIT_CLEAN, EXIT_FINDINGS, load_ruleset, resolve_engine_settings
from leakmesh.cli.findings_cmd import RUN_ID, STATUSES, with_store
from leakmesh.cli.scan_cmd import open_output
from leakmesh.engine.finding import CommitInfo, Finding, Location, Secret
from leakmesh.engine.rules import Confidence
from leakmesh.runtime.stats import ScanResult, ScanStats, finding_sort_key
from leakmesh.store.models import FindingQuery, OccurrenceRecord, TriageStatus
from leakmesh.worker.settings import Option, choice

if TYPE_CHECKING:
    from leakmesh.store.protocols import Datastore

FORMAT = Option("--format", "LEAKMESH_FORMAT", choice(*formats.FORMATS), "text")
OUTPUT = Option[str | None]("--output", "LEAKMESH_OUTPUT", str, None)


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], *, summary: str
) -> None:
    parser = subparsers.add_parser(
        "report",
        help=summary,
        description="Write the findings a datastore holds as text, json, jsonl, sarif or csv. "
        "Exit 1 when the report holds findings, as scan does.",
    )
    parser.add_argument(
        "--format", help="text (default), json, jsonl, sarif or csv [LEAKMESH_FORMAT]"
    )
    parser.add_argument(
        "--output", "-o", metavar="FILE", help="write to FILE instead of stdout [LEAKMESH_OUTPUT]"
    )
    parser.add_argument("--status", choices=STATUSES, help="only findings with this triage status")
    parser.add_argument("--rule", metavar="RULE_ID", help="only findings of this rule")
    parser.add_argument(
        "--repo", metavar="REPO", help="only occurrences in this scanned directory or repository"
    )
    parser.add_argument("--run", metavar="RUN_ID", help="only findings observed by this run")
    parser.add_argument(
        "--store", metavar="DSN", help="sqlite:///path.db or postgresql://… [LEAKMESH_STORE]"
    )
    parser.add_argument(
        "--schema-policy",
        metavar="POLICY",
        help="validate (default) or dev-auto-migrate [LEAKMESH_SCHEMA_POLICY]",
    )
    parser.set_defaults(handler=run)


def as_finding(record: OccurrenceRecord) -> Finding:
    commit = None
    if record.commit:
        commit = CommitInfo(
            commit=record.commit,
            author_name=record.author_name,
            author_email=record.author_email,
            date=record.commit_date,
            path=record.path,
        )
    return Finding(
        rule_id=record.rule_id,
        rule_name=record.rule_name,
        fingerprint=record.fingerprint,
        preview=record.preview,
        confidence=Confidence(record.confidence),
        entropy=0.0,  # not stored
        location=Location(
            path=record.path,
            line=record.line,
            column=record.column,
            start=record.start,
            end=record.end,
            object_id=record.object_id,
            commit=commit,
        ),
        secret=Secret(b""),
        decoded=tuple(record.decoded.split(">")) if record.decoded else (),
    )


def run(args: argparse.Namespace) -> int:
    status = TriageStatus(args.status) if args.status else None

    async def collect(store: Datastore, tenant: str) -> list[Finding]:
        query = FindingQuery(
            tenant=tenant,
            status=status,
            rule_id=args.rule,
            repo=args.repo,
            run_id=RUN_ID.resolve(args.run, os.environ),
        )
        findings = []
        for stored in await store.list_findings(query):
            for record in await store.occurrences(tenant, stored.fingerprint):
                if args.repo is None or record.repo == args.repo:
                    findings.append(as_finding(record))
        return findings

    findings = sorted(with_store(args, collect), key=finding_sort_key)
    result = ScanResult(
        findings=findings,
        stats=ScanStats(findings_emitted=len(findings)),
        skipped=[],
        policy_hash="",
    )
    fmt = FORMAT.resolve(args.format, os.environ)
    output = OUTPUT.resolve(args.output, os.environ)
    with open_output(output) as stream:
        if fmt == "json":
            formats.write_json(result, stream, show_secrets=False)
        elif fmt == "jsonl":
            formats.write_jsonl(findings, stream, show_secrets=False)
        elif fmt == "csv":
            formats.write_csv(result, stream, show_secrets=False)
        elif fmt == "sarif":
            ruleset = load_ruleset(resolve_engine_settings(args, os.environ))
            sarif.write_sarif(result, stream, ruleset=ruleset)
        else:
            color = output is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ
            formats.write_text(result, stream, show_secrets=False, color=color)
    return EXIT_FINDINGS if findings else EXIT_CLEAN
