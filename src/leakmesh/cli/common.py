"""What every command shares: exit codes, usage errors, engine options."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from leakmesh.cli.settings import ConfigError, Option, choice, hex_key, int_in_range
from leakmesh.engine.anchors import AnchorMode
from leakmesh.engine.fingerprint import DEFAULT_TENANT_KEY, TENANT_KEY_BYTES
from leakmesh.engine.rules import Ruleset, load_builtin_rules, load_rules_file
from leakmesh.engine.scanner import DEFAULT_DECODE_DEPTH, MAX_DECODE_DEPTH, Engine, EngineOptions

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


class UsageError(ConfigError):
    """Wrong arguments; exit 2 like any invalid configuration."""


RULES_FILE = Option[str | None]("--rules-file", "LEAKMESH_RULES_FILE", str, None)
DECODE_DEPTH = Option(
    "--decode-depth",
    "LEAKMESH_DECODE_DEPTH",
    int_in_range(0, MAX_DECODE_DEPTH),
    DEFAULT_DECODE_DEPTH,
)
ANCHOR_MODE = Option(
    "--anchor-mode", "LEAKMESH_ANCHOR_MODE", choice("manual", "derived"), "derived"
)
TENANT_KEY = Option(
    "LEAKMESH_TENANT_SECRET_KEY",
    "LEAKMESH_TENANT_SECRET_KEY",
    hex_key(TENANT_KEY_BYTES),
    DEFAULT_TENANT_KEY,
    secret=True,
)


STORE = Option[str | None]("--store", "LEAKMESH_STORE", str, None, secret=True)
SCHEMA_POLICY = Option(
    "--schema-policy", "LEAKMESH_SCHEMA_POLICY", choice("validate", "dev-auto-migrate"), "validate"
)
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


@dataclass(frozen=True, slots=True)
class EngineSettings:
    rules_file: Path | None
    decode_depth: int
    anchor_mode: AnchorMode
    tenant_key: bytes = field(repr=False)
    cache_dir: Path | None


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    if environ.get("LEAKMESH_CACHE_DIR"):
        return Path(environ["LEAKMESH_CACHE_DIR"])
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "leakmesh"


def resolve_engine_settings(args: argparse.Namespace, environ: Mapping[str, str]) -> EngineSettings:
    rules_file = RULES_FILE.resolve(getattr(args, "rules_file", None), environ)
    tenant_key = TENANT_KEY.resolve(None, environ)
    if tenant_key == bytes(TENANT_KEY_BYTES):
        raise ConfigError("invalid LEAKMESH_TENANT_SECRET_KEY: must not be all zeros")
    return EngineSettings(
        rules_file=Path(rules_file) if rules_file else None,
        decode_depth=DECODE_DEPTH.resolve(getattr(args, "decode_depth", None), environ),
        anchor_mode=AnchorMode(ANCHOR_MODE.resolve(getattr(args, "anchor_mode", None), environ)),
        tenant_key=tenant_key,
        cache_dir=default_cache_dir(environ),
    )


def load_ruleset(settings: EngineSettings) -> Ruleset:
    if settings.rules_file is None:
        return load_builtin_rules(cache_dir=settings.cache_dir)
    return load_rules_file(settings.rules_file)


def build_engine(settings: EngineSettings) -> Engine:
    options = EngineOptions(
        decode_depth=settings.decode_depth,
        anchor_mode=settings.anchor_mode,
        tenant_key=settings.tenant_key,
        cache_dir=settings.cache_dir,
    )
    return Engine(ruleset=load_ruleset(settings), options=options)
