"""The `leakmesh` command: parse arguments, dispatch, map errors to exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from leakmesh import __version__
from leakmesh.cli.common import EXIT_USAGE
from leakmesh.engine.errors import EngineError
from leakmesh.worker.settings import ConfigError

if TYPE_CHECKING:
    from types import ModuleType


# Each command's module is imported only when that command runs: `leakmesh scan`
# need not load the fleet's clients, nor `leakmesh worker` the report writers.
def _scan() -> ModuleType:
    from leakmesh.cli import scan_cmd

    return scan_cmd


def _baseline() -> ModuleType:
    from leakmesh.cli import baseline_cmd

    return baseline_cmd


def _rules() -> ModuleType:
    from leakmesh.cli import rules_cmd

    return rules_cmd


def _db() -> ModuleType:
    from leakmesh.cli import db_cmd

    return db_cmd


def _run() -> ModuleType:
    from leakmesh.cli import run_cmd

    return run_cmd


def _findings() -> ModuleType:
    from leakmesh.cli import findings_cmd

    return findings_cmd


def _report() -> ModuleType:
    from leakmesh.cli import report_cmd

    return report_cmd


def _worker() -> ModuleType:
    from leakmesh.cli import worker_cmd

    return worker_cmd


COMMANDS: dict[str, tuple[str, Callable[[], ModuleType]]] = {
    "scan": ("scan a directory (fs, the default) for secrets", _scan),
    "baseline": ("create a baseline of known findings", _baseline),
    "rules": ("list or check the detection rules", _rules),
    "db": ("inspect and migrate a datastore schema", _db),
    "run": ("plan and follow fleet runs (etcd + PostgreSQL)", _run),
    "findings": ("list, show and triage stored findings", _findings),
    "report": ("report stored findings in the formats of scan", _report),
    "worker": (
        "run a scanning worker: direct (local source) or connector (shards of a fleet run)",
        _worker,
    ),
}
"""Command → (one-line summary, its module)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"leakmesh: error: {message}\n")


def _chosen(argv: Sequence[str]) -> str | None:
    """The command named in `argv` (the first argument not an option), if any."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with `argv` only the named command's options filled in
    (the others are listed by name and summary)."""
    parser = _Parser(
        prog="leakmesh",
        description="Find leaked credentials in directories and git history.",
        epilog="Every option can also come from its LEAKMESH_* environment variable "
        "(shown in brackets); a flag always wins. Exit codes: 0 nothing found, "
        "1 findings, 2 invalid configuration or usage.",
    )
    parser.add_argument("--version", action="version", version=f"leakmesh {__version__}")
    subparsers = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=argparse.ArgumentParser
    )
    chosen = None if argv is None else _chosen(argv)
    for name, (summary, module) in COMMANDS.items():
        if chosen in (None, name):
            module().add_parser(subparsers, summary=summary)
        else:
            subparsers.add_parser(name, help=summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    try:
        code: int = args.handler(args)
    except (ConfigError, EngineError) as exc:
        print(f"leakmesh: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("leakmesh: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_USAGE
    except Exception as exc:
        # Never exit 1 on a crash: 1 means "findings". The message names the error
        # type; our exceptions carry no secret bytes. LEAKMESH_DEBUG=1 shows the trace.
        if os.environ.get("LEAKMESH_DEBUG"):
            raise
        print(f"leakmesh: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return code


if __name__ == "__main__":
    sys.exit(main())
