"""Engine options shared by `leakmesh scan` and `leakmesh worker`: rules, decode depth,
anchor mode, rule-cache directory and the tenant secret key, and how to build the
`Engine` they describe."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from leakmesh.engine.anchors import AnchorMode
from leakmesh.engine.engine import DEFAULT_DECODE_DEPTH, MAX_DECODE_DEPTH, Engine, EngineOptions
from leakmesh.engine.fingerprint import DEFAULT_TENANT_KEY, TENANT_KEY_BYTES
from leakmesh.engine.rules import Ruleset, load_builtin_rules, load_rules_file
from leakmesh.engine.values import WithSecretFields
from leakmesh.worker.settings import Option, choice, hex_key, int_in_range


def secret_key(text: str) -> bytes:
    """A tenant secret key: 32 bytes hex; all zeros is the mark of an unset key."""
    key = hex_key(TENANT_KEY_BYTES)(text)
    if key == bytes(TENANT_KEY_BYTES):
        raise ValueError("must not be all zeros")
    return key


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
CACHE_DIR = Option[str | None]("--cache-dir", "LEAKMESH_CACHE_DIR", str, None)
# None = not configured: fingerprints then use the public default key (portable
# baselines); the connector worker requires a real one.
TENANT_KEY = Option[bytes | None](
    "--tenant-secret-key", "LEAKMESH_TENANT_SECRET_KEY", secret_key, None, secret=True
)
ENGINE_OPTIONS: tuple[Option[Any], ...] = (
    RULES_FILE,
    TENANT_KEY,
    DECODE_DEPTH,
    ANCHOR_MODE,
    CACHE_DIR,
)
"""In resolution order: when several are invalid, the first is the one reported."""


class EngineSettings(WithSecretFields, frozen=True):
    secret_fields: ClassVar[frozenset[str]] = frozenset({"tenant_key"})

    rules_file: Path | None
    decode_depth: int
    anchor_mode: AnchorMode
    tenant_key: bytes
    cache_dir: Path | None


def default_cache_dir(environ: Mapping[str, str], *, flag: str | None = None) -> Path:
    explicit = CACHE_DIR.resolve(flag, environ)
    if explicit:
        return Path(explicit)
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "leakmesh"


def resolve_engine_flags(
    *, flags: Mapping[str, str | None], environ: Mapping[str, str]
) -> EngineSettings:
    """Engine settings from flag values keyed by flag name (None = flag not given)."""
    rules_file = RULES_FILE.resolve(flags.get(RULES_FILE.flag), environ)
    tenant_key = TENANT_KEY.resolve(flags.get(TENANT_KEY.flag), environ)
    return EngineSettings(
        rules_file=Path(rules_file) if rules_file else None,
        decode_depth=DECODE_DEPTH.resolve(flags.get(DECODE_DEPTH.flag), environ),
        anchor_mode=AnchorMode(ANCHOR_MODE.resolve(flags.get(ANCHOR_MODE.flag), environ)),
        tenant_key=DEFAULT_TENANT_KEY if tenant_key is None else tenant_key,
        cache_dir=default_cache_dir(environ, flag=flags.get(CACHE_DIR.flag)),
    )


def resolve_engine_settings(args: argparse.Namespace, environ: Mapping[str, str]) -> EngineSettings:
    """For argparse commands: a flag's value is read from its ``dest`` when the
    command defines that flag."""
    flags = {option.flag: _flag_value(args, option.flag) for option in ENGINE_OPTIONS}
    return resolve_engine_flags(flags=flags, environ=environ)


def _flag_value(args: argparse.Namespace, flag: str) -> str | None:
    value = getattr(args, flag.lstrip("-").replace("-", "_"), None)
    return value if isinstance(value, str) else None


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
