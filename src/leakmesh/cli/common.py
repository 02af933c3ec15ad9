"""What every command shares: exit codes, usage errors, engine options."""

from __future__ import annotations

import argparse

from leakmesh.engine.engine import DEFAULT_DECODE_DEPTH, MAX_DECODE_DEPTH
from leakmesh.worker.engine_settings import (
    ANCHOR_MODE,
    DECODE_DEPTH,
    RULES_FILE,
    TENANT_KEY,
    EngineSettings,
    build_engine,
    default_cache_dir,
    load_ruleset,
    resolve_engine_settings,
)
from leakmesh.worker.scan_options import SCHEMA_POLICY
from leakmesh.worker.settings import ConfigError, Option, hex_key

__all__ = [
    "ANCHOR_MODE",
    "DECODE_DEPTH",
    "EXIT_CLEAN",
    "EXIT_FINDINGS",
    "EXIT_USAGE",
    "RULES_FILE",
    "SCHEMA_POLICY",
    "STORE",
    "TENANT_ID",
    "TENANT_KEY",
    "EngineSettings",
    "UsageError",
    "add_engine_options",
    "add_store_options",
    "build_engine",
    "default_cache_dir",
    "load_ruleset",
    "resolve_engine_settings",
]

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


class UsageError(ConfigError):
    """Wrong arguments; exit 2 like any invalid configuration."""


STORE = Option[str | None]("--store", "LEAKMESH_STORE", str, None, secret=True)
TENANT_ID = Option("LEAKMESH_TENANT_ID", "LEAKMESH_TENANT_ID", hex_key(32), b"\x00" * 32)


def add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        metavar="DSN",
        help="datastore: sqlite:///path.db (created when missing) or postgresql://… — findings, "
        "done-ledger and git frontier persist and rescans skip what was scanned [LEAKMESH_STORE]",
    )
    parser.add_argument(
        "--schema-policy",
        metavar="POLICY",
        help="validate (default: fail when the schema is missing, behind or altered) or "
        "dev-auto-migrate [LEAKMESH_SCHEMA_POLICY]",
    )


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rules-file",
        metavar="FILE",
        help="rules TOML replacing the built-in rules (extend_builtin = true in the file adds to them) [LEAKMESH_RULES_FILE]",
    )
    parser.add_argument(
        "--decode-depth",
        metavar="N",
        help=f"decode base64/hex/percent-encoded runs and rescan, N levels deep, 0..{MAX_DECODE_DEPTH} (default {DEFAULT_DECODE_DEPTH}) [LEAKMESH_DECODE_DEPTH]",
    )
    parser.add_argument(
        "--anchor-mode",
        metavar="MODE",
        help="prefilter rules by their keywords (manual) or by literals derived from their patterns (derived, default) [LEAKMESH_ANCHOR_MODE]",
    )
