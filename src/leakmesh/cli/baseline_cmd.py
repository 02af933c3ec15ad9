"""`leakmesh baseline create [fs] [PATH] --output FILE`: record current findings as known."""

from __future__ import annotations

import argparse
import json
import os

from msgspec.structs import replace

from leakmesh.cli.common import EXIT_CLEAN, UsageError, build_engine, resolve_engine_settings
from leakmesh.cli.logs import log_event
from leakmesh.cli.scan_cmd import execute_scan
from leakmesh.cli.scan_settings import add_scan_options, resolve_scan_settings
from leakmesh.runtime.suppression import Baseline, baseline_document


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], *, summary: str
) -> None:
    parser = subparsers.add_parser("baseline", help=summary)
    commands = parser.add_subparsers(dest="baseline_command", required=True, metavar="COMMAND")
    create = commands.add_parser(
        "create",
        help="scan and write the fingerprints of every finding to --output",
        description="Scan PATH and write a baseline file: later scans with --baseline=FILE "
        "do not report these findings again, even when their lines move.",
    )
    create.add_argument(
        "target", nargs="*", metavar="[fs] [PATH]", help="source and path (default: .)"
    )
    add_scan_options(create)
    create.set_defaults(handler=run_create)


def run_create(args: argparse.Namespace) -> int:
    settings = resolve_scan_settings(args, os.environ)
    output = settings.output
    if output is None:
        raise UsageError("baseline create needs --output=FILE")
    # A new baseline records everything found now, whatever an older baseline says.
    settings = replace(settings, baseline=Baseline())
    engine = build_engine(resolve_engine_settings(args, os.environ))
    result = execute_scan(settings, engine=engine)
    document = baseline_document(result.findings, policy_hash=result.policy_hash)
    output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    log_event("baseline.created", path=str(output), fingerprints=len(result.findings))
    return EXIT_CLEAN
