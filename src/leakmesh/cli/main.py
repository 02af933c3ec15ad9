"""The `leakmesh` command: parse arguments, dispatch, map errors to exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from leakmesh import __version__
from leakmesh.cli import (
    baseline_cmd,
    db_cmd,
    findings_cmd,
    report_cmd,
    rules_cmd,
    run_cmd,
    scan_cmd,
    worker_cmd,
)
from leakmesh.cli.common import EXIT_USAGE
from leakmesh.engine.errors import EngineError
from leakmesh.worker.settings import ConfigError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"leakmesh: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
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
    scan_cmd.add_parser(subparsers)
    baseline_cmd.add_parser(subparsers)
    rules_cmd.add_parser(subparsers)
    db_cmd.add_parser(subparsers)
    run_cmd.add_parser(subparsers)
    findings_cmd.add_parser(subparsers)
    report_cmd.add_parser(subparsers)
    worker_cmd.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
