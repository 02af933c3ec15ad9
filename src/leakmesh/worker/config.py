"""The worker's launch configuration (SPEC §7): one typed `WorkerConfig` resolved from
command-line flags and ``LEAKMESH_*`` variables.

A flag wins over its variable unconditionally (the variable is then not read). An
invalid value raises `ConfigError` with one line naming the flag or variable and
never the value of a secret. In connector mode every production setting is
required and the first one missing is named: the fleet never falls back to a
local double. `WORKER_OPTIONS` is the one list the CLI parser and the README table
are built from and checked against.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from leakmesh.engine.engine import DEFAULT_DECODE_DEPTH, MAX_DECODE_DEPTH
from leakmesh.sources.filesystem import DEFAULT_MAX_FILE_BYTES, IGNORE_FILE_NAME
from leakmesh.store.dsn import parse_dsn, redact
from leakmesh.store.errors import StoreError
from leakmesh.store.migrate import MigrationPolicy
from leakmesh.store.models import DEFAULT_TENANT
from leakmesh.worker.engine_settings import (
    ANCHOR_MODE,
    CACHE_DIR,
    DECODE_DEPTH,
    RULES_FILE,
    TENANT_KEY,
    EngineSettings,
    resolve_engine_flags,
)
from leakmesh.worker.scan_options import (
    IGNORE_FILE,
    MAX_FILE_SIZE,
    NO_GITIGNORE,
    SCAN_BINARY,
    SCHEMA_POLICY,
    SKIP_ARCHIVES,
    ContentSettings,
)
from leakmesh.worker.settings import (
    ConfigError,
    Option,
    byte_size,
    choice,
    float_in_range,
    hex_key,
    int_in_range,
    parse_bool,
)

MIB = 1 << 20
GIB = 1 << 30


class WorkerMode(StrEnum):
    DIRECT = "direct"
    """Scan a local source once, like `leakmesh scan`."""
    CONNECTOR = "connector"
    """Take shards of a planned run from etcd and write to PostgreSQL."""


class Backend(StrEnum):
    LOCAL = "local"
    PRODUCTION = "production"


class SourceKind(StrEnum):
    FS = "fs"
    GIT = "git"


Endpoint = tuple[str, int]
"""An etcd endpoint as (host, port); an IPv6 host without brackets."""

DEFAULT_MAX_ITEMS = 4096
MAX_ITEMS_LIMIT = 10_000_000
DEFAULT_MAX_BYTES = 64 * MIB
MAX_BYTES_LIMIT = 64 * GIB
DEFAULT_COMMIT_QUEUE_CAPACITY = 64
COMMIT_QUEUE_CAPACITY_LIMIT = 65_536
DEFAULT_LEASE_TTL_S = 10
MIN_LEASE_TTL_S = 2  # keepalive runs at TTL/3: below 2 s it cannot keep up
MAX_LEASE_TTL_S = 3600
DEFAULT_POLL_INTERVAL_S = 1.0
MIN_POLL_INTERVAL_S = 0.05
MAX_POLL_INTERVAL_S = 60.0
MAX_JOBS = 1024
MAX_ID = (1 << 63) - 1  # run and worker ids are PostgreSQL bigints
TENANT_ID_BYTES = 32
POLICY_HASH_BYTES = 32


# ---------------------------------------------------------------- parsers

_ENDPOINT_RE = re.compile(
    r"(?:http://)?(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?))"
    r":(?P<port>[0-9]{1,5})/?",
    re.IGNORECASE,
)
_NAMESPACE_RE = re.compile(r"[A-Za-z0-9._/-]+")


def parse_endpoints(text: str) -> tuple[Endpoint, ...]:
    """``host:port`` or ``http://host:port``, comma-separated (IPv6 as ``[addr]:port``)."""
    entries = text.split(",")
    endpoints: list[Endpoint] = []
    for number, entry in enumerate(entries, start=1):
        # The entry itself is not quoted back: a mistyped one may carry credentials.
        where = f"entry {number} of {len(entries)}"
        match = _ENDPOINT_RE.fullmatch(entry.strip())
        if match is None:
            raise ValueError(f"{where}: expected host:port or http://host:port")
        port = int(match.group("port"))
        if not 1 <= port <= 65535:
            raise ValueError(f"{where}: port must be 1..65535")
        host = match.group("host")
        if host is None:
            try:
                host = str(ipaddress.IPv6Address(match.group("v6")))
            except ValueError:
                raise ValueError(f"{where}: invalid IPv6 address") from None
        endpoints.append((host, port))
    return tuple(endpoints)


def parse_namespace(text: str) -> str:
    """Letters, digits and ``._/-``; stored without a trailing slash."""
    body = text.strip()
    if not _NAMESPACE_RE.fullmatch(body):
        raise ValueError("expected letters, digits and . _ / -")
    body = body.rstrip("/")
    if not body:
        raise ValueError("must not be empty or only slashes")
    return body


def parse_dsn_text(text: str) -> str:
    """A datastore DSN the store layer can open; the value is never quoted back."""
    dsn = text.strip()
    try:
        parse_dsn(dsn)
    except StoreError:
        raise ValueError("expected postgresql://…, postgres://… or sqlite:///path.db") from None
    return dsn


def hex_digest(length: int) -> Callable[[str], str]:
    """Exactly `length` bytes as hex (optional ``0x``), stored as lowercase hex."""
    parse_bytes = hex_key(length)

    def parse(text: str) -> str:
        return parse_bytes(text).hex()

    return parse


def parse_path(text: str) -> Path:
    if not text.strip():
        raise ValueError("must not be empty")
    return Path(text)


def _text(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def show_size(size: int) -> str:
    """`size` in the largest binary unit that divides it, as `byte_size` reads it."""
    for suffix, unit in (("T", 1 << 40), ("G", GIB), ("M", MIB), ("K", 1 << 10)):
        if size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


# ---------------------------------------------------------------- options

MODE = Option("--mode", "LEAKMESH_WORKER_MODE", choice("direct", "connector"), "connector")
BACKEND = Option[str | None](
    "--backend", "LEAKMESH_WORKER_BACKEND", choice("local", "production"), None
)
SOURCE = Option[str | None]("--source", "LEAKMESH_WORKER_SOURCE", choice("fs", "git"), None)
PATH = Option[str | None]("--path", "LEAKMESH_WORKER_PATH", _text, None)
# secret=True only so that a malformed list is not quoted back (see parse_endpoints).
ETCD_ENDPOINTS = Option[tuple[Endpoint, ...] | None](
    "--etcd-endpoints", "LEAKMESH_ETCD_ENDPOINTS", parse_endpoints, None, secret=True
)
ETCD_NAMESPACE = Option[str | None](
    "--etcd-namespace", "LEAKMESH_ETCD_NAMESPACE", parse_namespace, None
)
FINDINGS_DSN = Option[str | None](
    "--findings-dsn", "LEAKMESH_FINDINGS_DSN", parse_dsn_text, None, secret=True
)
LEDGER_DSN = Option[str | None](
    "--ledger-dsn", "LEAKMESH_LEDGER_DSN", parse_dsn_text, None, secret=True
)
GIT_KV_DSN = Option[str | None](
    "--git-kv-dsn", "LEAKMESH_GIT_KV_DSN", parse_dsn_text, None, secret=True
)
MIRROR_ROOT = Option[Path | None]("--mirror-root", "LEAKMESH_MIRROR_ROOT", parse_path, None)
TENANT_ID = Option[str | None](
    "--tenant-id", "LEAKMESH_TENANT_ID", hex_digest(TENANT_ID_BYTES), None
)
RUN_ID = Option[int | None]("--run-id", "LEAKMESH_RUN_ID", int_in_range(1, MAX_ID), None)
WORKER_ID = Option[int | None]("--worker-id", "LEAKMESH_WORKER_ID", int_in_range(1, MAX_ID), None)
POLICY_HASH = Option[str | None](
    "--policy-hash", "LEAKMESH_POLICY_HASH", hex_digest(POLICY_HASH_BYTES), None
)
TENANT_SECRET_KEY = TENANT_KEY  # one definition: the engine keys fingerprints with it
MAX_ITEMS = Option(
    "--max-items", "LEAKMESH_MAX_ITEMS", int_in_range(1, MAX_ITEMS_LIMIT), DEFAULT_MAX_ITEMS
)
MAX_BYTES = Option(
    "--max-bytes", "LEAKMESH_MAX_BYTES", byte_size(1, MAX_BYTES_LIMIT), DEFAULT_MAX_BYTES
)
COMMIT_QUEUE_CAPACITY = Option(
    "--commit-queue-capacity",
    "LEAKMESH_COMMIT_QUEUE_CAPACITY",
    int_in_range(1, COMMIT_QUEUE_CAPACITY_LIMIT),
    DEFAULT_COMMIT_QUEUE_CAPACITY,
)
LEASE_TTL = Option(
    "--lease-ttl",
    "LEAKMESH_LEASE_TTL",
    int_in_range(MIN_LEASE_TTL_S, MAX_LEASE_TTL_S),
    DEFAULT_LEASE_TTL_S,
)
POLL_INTERVAL = Option(
    "--poll-interval",
    "LEAKMESH_POLL_INTERVAL",
    float_in_range(MIN_POLL_INTERVAL_S, MAX_POLL_INTERVAL_S),
    DEFAULT_POLL_INTERVAL_S,
)
EXIT_WHEN_DONE = Option("--exit-when-done", "LEAKMESH_EXIT_WHEN_DONE", parse_bool, True)
# 0..MAX_JOBS (0 = one per core), unlike `scan --jobs` which refuses an explicit 0.
JOBS = Option("--jobs", "LEAKMESH_JOBS", int_in_range(0, MAX_JOBS), 0)


@dataclass(frozen=True, slots=True)
class WorkerOption:
    """One worker setting with what `leakmesh worker --help` and the README say of it."""

    option: Option[Any]
    help: str
    default: str
    """The default as documented ("" when there is none)."""
    metavar: str
    group: str

    @property
    def flag(self) -> str:
        return self.option.flag

    @property
    def env(self) -> str:
        return self.option.env

    @property
    def boolean(self) -> bool:
        return self.option.parse is parse_bool

    def missing(self, why: str) -> ConfigError:
        return ConfigError(f"missing {self.env} (or {self.flag}): {why}")


_RUN = "run"
_FLEET = "fleet backends (connector mode)"
_BUDGETS = "budgets and timing"
ENGINE_GROUP = "engine and content"

WORKER_OPTIONS: tuple[WorkerOption, ...] = (
    WorkerOption(
        MODE,
        "direct: scan a local source once; connector: take shards of a run from etcd",
        "connector",
        "MODE",
        _RUN,
    ),
    WorkerOption(
        BACKEND,
        "local (embedded datastore; direct mode only) or production (PostgreSQL and etcd)",
        "production (connector), local (direct)",
        "BACKEND",
        _RUN,
    ),
    WorkerOption(
        SOURCE,
        "fs or git, like the first positional word; required in direct mode, and in "
        "connector mode it must match the run",
        "",
        "SOURCE",
        _RUN,
    ),
    WorkerOption(
        PATH,
        "the directory or repository, like the positional PATH; in connector mode it "
        "replaces the root an fs run recorded",
        ". (direct)",
        "PATH",
        _RUN,
    ),
    WorkerOption(
        ETCD_ENDPOINTS,
        "etcd endpoints, comma-separated host:port or http://host:port",
        "",
        "LIST",
        _FLEET,
    ),
    WorkerOption(
        ETCD_NAMESPACE,
        "etcd key prefix isolating this deployment (letters, digits, . _ / -)",
        "",
        "PREFIX",
        _FLEET,
    ),
    WorkerOption(
        FINDINGS_DSN,
        "findings datastore, postgresql://… (sqlite:///… with the local backend); secret: prefer the variable",
        "",
        "DSN",
        _FLEET,
    ),
    WorkerOption(
        LEDGER_DSN, "done-ledger datastore DSN; secret: prefer the variable", "", "DSN", _FLEET
    ),
    WorkerOption(
        GIT_KV_DSN,
        "git frontier datastore DSN, required for git runs; secret: prefer the variable",
        "",
        "DSN",
        _FLEET,
    ),
    WorkerOption(
        MIRROR_ROOT,
        "directory of the local git mirrors, reused between leases; required for git runs",
        "",
        "DIR",
        _FLEET,
    ),
    WorkerOption(
        TENANT_ID,
        "tenant id, 32 bytes as 64 hex digits (optional 0x)",
        "64 zeros (direct)",
        "HEX",
        _FLEET,
    ),
    WorkerOption(RUN_ID, "the run to work on, ≥ 1", "", "N", _FLEET),
    WorkerOption(WORKER_ID, "this worker's id, ≥ 1", "", "N", _FLEET),
    WorkerOption(
        POLICY_HASH,
        "the run's policy hash, 32 bytes as 64 hex digits (optional 0x)",
        "",
        "HEX",
        _FLEET,
    ),
    WorkerOption(
        TENANT_SECRET_KEY,
        "tenant secret key keying fingerprints, 32 bytes hex, not all zeros, never printed; secret: prefer the variable",
        "public default key (direct)",
        "HEX",
        _FLEET,
    ),
    WorkerOption(
        SCHEMA_POLICY,
        "validate (fail closed when a schema is missing, behind or altered) or dev-auto-migrate",
        "validate",
        "POLICY",
        _FLEET,
    ),
    WorkerOption(
        MAX_ITEMS,
        f"items per page commit, 1..{MAX_ITEMS_LIMIT}",
        str(DEFAULT_MAX_ITEMS),
        "N",
        _BUDGETS,
    ),
    WorkerOption(
        MAX_BYTES,
        f"bytes per page commit, 1..{show_size(MAX_BYTES_LIMIT)}, e.g. 512K or 64M",
        show_size(DEFAULT_MAX_BYTES),
        "SIZE",
        _BUDGETS,
    ),
    WorkerOption(
        COMMIT_QUEUE_CAPACITY,
        f"pages waiting between scanning and committing, 1..{COMMIT_QUEUE_CAPACITY_LIMIT}",
        str(DEFAULT_COMMIT_QUEUE_CAPACITY),
        "N",
        _BUDGETS,
    ),
    WorkerOption(
        LEASE_TTL,
        f"etcd lease TTL in seconds, {MIN_LEASE_TTL_S}..{MAX_LEASE_TTL_S}",
        str(DEFAULT_LEASE_TTL_S),
        "SECONDS",
        _BUDGETS,
    ),
    WorkerOption(
        POLL_INTERVAL,
        f"seconds between looks for a shard when idle, "
        f"{MIN_POLL_INTERVAL_S:g}..{MAX_POLL_INTERVAL_S:g}",
        f"{DEFAULT_POLL_INTERVAL_S:g}",
        "SECONDS",
        _BUDGETS,
    ),
    WorkerOption(
        EXIT_WHEN_DONE,
        "exit when the run has no shard left (false: keep polling for its shards)",
        "true",
        "BOOL",
        _BUDGETS,
    ),
    WorkerOption(JOBS, f"scanning processes, 0..{MAX_JOBS} (0: one per core)", "0", "N", _BUDGETS),
    WorkerOption(
        RULES_FILE,
        "rules TOML replacing the built-in rules (extend_builtin = true adds to them)",
        "built-in rules",
        "FILE",
        ENGINE_GROUP,
    ),
    WorkerOption(
        DECODE_DEPTH,
        f"decode base64/hex/percent-encoded runs and rescan, 0..{MAX_DECODE_DEPTH} levels",
        str(DEFAULT_DECODE_DEPTH),
        "N",
        ENGINE_GROUP,
    ),
    WorkerOption(
        ANCHOR_MODE,
        "prefilter rules by their keywords (manual) or by literals of their patterns (derived)",
        "derived",
        "MODE",
        ENGINE_GROUP,
    ),
    WorkerOption(
        CACHE_DIR,
        "where the compiled rule database is cached",
        "$XDG_CACHE_HOME/leakmesh or ~/.cache/leakmesh",
        "DIR",
        ENGINE_GROUP,
    ),
    WorkerOption(SCAN_BINARY, "also scan binary files", "false", "BOOL", ENGINE_GROUP),
    WorkerOption(
        SKIP_ARCHIVES, "do not expand zip/tar/gz/bz2/xz archives", "false", "BOOL", ENGINE_GROUP
    ),
    WorkerOption(
        NO_GITIGNORE, "scan files that .gitignore excludes", "false", "BOOL", ENGINE_GROUP
    ),
    WorkerOption(
        MAX_FILE_SIZE,
        "skip larger files, e.g. 512K, 64M",
        show_size(DEFAULT_MAX_FILE_BYTES),
        "SIZE",
        ENGINE_GROUP,
    ),
    WorkerOption(
        IGNORE_FILE,
        "gitignore-style paths never to scan",
        f"ROOT/{IGNORE_FILE_NAME}",
        "FILE",
        ENGINE_GROUP,
    ),
)

_BY_FLAG = {entry.flag: entry for entry in WORKER_OPTIONS}
# What connector mode cannot run without, in the order the first missing is named.
_CONNECTOR_REQUIRED = (
    ETCD_ENDPOINTS,
    ETCD_NAMESPACE,
    FINDINGS_DSN,
    LEDGER_DSN,
    TENANT_ID,
    RUN_ID,
    WORKER_ID,
    POLICY_HASH,
    TENANT_SECRET_KEY,
)
_GIT_REQUIRED = (GIT_KV_DSN, MIRROR_ROOT)
# Direct mode with the production backend still writes to PostgreSQL: no silent
# fallback to nothing.
_DIRECT_PRODUCTION_REQUIRED = (FINDINGS_DSN, LEDGER_DSN)


# ---------------------------------------------------------------- the configuration


@dataclass(frozen=True, slots=True, repr=False)
class WorkerConfig:
    """A worker's settings, validated. Its repr is `describe()`: no DSN password,
    no secret key."""

    mode: WorkerMode
    backend: Backend
    source: SourceKind | None
    """Always set in direct mode; in connector mode None means "whatever the run is"."""
    path: Path | None
    """Direct mode: what to scan (default ``.``). Connector mode: the root of an fs
    run, when it differs from the one the run recorded."""
    etcd_endpoints: tuple[Endpoint, ...]
    etcd_namespace: str | None
    findings_dsn: str | None
    ledger_dsn: str | None
    git_kv_dsn: str | None
    mirror_root: Path | None
    tenant_id: str
    """64 lowercase hex digits."""
    run_id: int | None
    worker_id: int | None
    policy_hash: str | None
    """64 lowercase hex digits."""
    tenant_secret_key: bytes | None = field(repr=False)
    max_items: int
    max_bytes: int
    commit_queue_capacity: int
    lease_ttl_s: int
    poll_interval_s: float
    exit_when_done: bool
    schema_policy: MigrationPolicy
    jobs: int
    """0: one per core."""
    engine: EngineSettings
    content: ContentSettings

    def tenant_key_matches(self, other: bytes) -> bool:
        """Whether `other` is the configured tenant secret key, in constant time."""
        if self.tenant_secret_key is None:
            return False
        return hmac.compare_digest(self.tenant_secret_key, other)

    def require_git_settings(self) -> None:
        """Fail closed (naming the first missing) when this connector worker cannot
        serve a git run; the app calls it once a run without `source` turns out git."""
        if self.mode is not WorkerMode.CONNECTOR:
            return
        values: dict[str, object] = {
            GIT_KV_DSN.flag: self.git_kv_dsn,
            MIRROR_ROOT.flag: self.mirror_root,
        }
        for option in _GIT_REQUIRED:
            if values[option.flag] is None:
                raise _BY_FLAG[option.flag].missing("required for git runs in connector mode")

    def describe(self) -> dict[str, object]:
        """Every setting, safe to log: DSN passwords redacted, the secret key only
        as set/unset."""
        return {
            "mode": self.mode.value,
            "backend": self.backend.value,
            "source": None if self.source is None else self.source.value,
            "path": None if self.path is None else str(self.path),
            "etcd_endpoints": [_show_endpoint(e) for e in self.etcd_endpoints],
            "etcd_namespace": self.etcd_namespace,
            "findings_dsn": _redacted(self.findings_dsn),
            "ledger_dsn": _redacted(self.ledger_dsn),
            "git_kv_dsn": _redacted(self.git_kv_dsn),
            "mirror_root": None if self.mirror_root is None else str(self.mirror_root),
            "tenant_id": self.tenant_id,
            "run_id": self.run_id,
            "worker_id": self.worker_id,
            "policy_hash": self.policy_hash,
            "tenant_secret_key": "unset" if self.tenant_secret_key is None else "set",
            "max_items": self.max_items,
            "max_bytes": self.max_bytes,
            "commit_queue_capacity": self.commit_queue_capacity,
            "lease_ttl_s": self.lease_ttl_s,
            "poll_interval_s": self.poll_interval_s,
            "exit_when_done": self.exit_when_done,
            "schema_policy": self.schema_policy.value,
            "jobs": self.jobs,
            "rules_file": _str_or_none(self.engine.rules_file),
            "decode_depth": self.engine.decode_depth,
            "anchor_mode": self.engine.anchor_mode.value,
            "cache_dir": _str_or_none(self.engine.cache_dir),
            "scan_binary": self.content.scan_binary,
            "skip_archives": self.content.skip_archives,
            "respect_gitignore": self.content.respect_gitignore,
            "max_file_bytes": self.content.max_file_bytes,
            "ignore_file": _str_or_none(self.content.ignore_file),
        }

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.describe().items())
        return f"WorkerConfig({shown})"

    __str__ = __repr__


def _show_endpoint(endpoint: Endpoint) -> str:
    host, port = endpoint
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _redacted(dsn: str | None) -> str | None:
    return None if dsn is None else redact(dsn)


def _str_or_none(path: Path | None) -> str | None:
    return None if path is None else str(path)


# ---------------------------------------------------------------- resolution


def resolve_worker_config(
    *, flags: Mapping[str, str | None], positional: Sequence[str], environ: Mapping[str, str]
) -> WorkerConfig:
    """The configuration from flag values keyed by flag name (None: not given), the
    positional ``[fs|git] [PATH]`` words and the environment."""
    unknown = sorted(set(flags) - set(_BY_FLAG))
    if unknown:
        raise ValueError(f"not worker flags: {', '.join(unknown)}")

    def get(option: Option[Any]) -> Any:
        return option.resolve(flags.get(option.flag), environ)

    def name(option: Option[Any]) -> str:
        return option.flag if flags.get(option.flag) is not None else option.env

    positional_source, positional_path = _split_positional(positional)
    if positional_source is not None and flags.get(SOURCE.flag) is not None:
        raise ConfigError(f"conflicting source: positional {positional_source!r} and --source")
    if positional_path is not None and flags.get(PATH.flag) is not None:
        raise ConfigError("conflicting path: positional PATH and --path")

    mode = WorkerMode(get(MODE))
    backend_text: str | None = get(BACKEND)
    if backend_text is None:
        backend = Backend.PRODUCTION if mode is WorkerMode.CONNECTOR else Backend.LOCAL
    else:
        backend = Backend(backend_text)
    if mode is WorkerMode.CONNECTOR and backend is Backend.LOCAL:
        raise ConfigError(
            f"invalid {name(BACKEND)} 'local': connector mode needs the production backend"
        )

    source_text: str | None = positional_source or get(SOURCE)
    if source_text is None and mode is WorkerMode.DIRECT:
        raise ConfigError(
            f"missing {SOURCE.env} (or {SOURCE.flag}, or a positional fs|git): "
            "required in direct mode"
        )
    source = None if source_text is None else SourceKind(source_text)

    path_name = "PATH" if positional_path is not None else name(PATH)
    path_text: str | None = positional_path if positional_path is not None else get(PATH)
    if path_text is None and mode is WorkerMode.DIRECT:
        path_text = "."
    path = None if path_text is None else Path(path_text)
    if path is not None and not path.exists():
        raise ConfigError(f"invalid {path_name}: {path_text} does not exist")

    endpoints: tuple[Endpoint, ...] | None = get(ETCD_ENDPOINTS)
    namespace: str | None = get(ETCD_NAMESPACE)
    dsns: dict[str, str | None] = {}
    for option in (FINDINGS_DSN, LEDGER_DSN, GIT_KV_DSN):
        dsn: str | None = get(option)
        production = backend is Backend.PRODUCTION
        if dsn is not None and production and parse_dsn(dsn).kind != "postgresql":
            raise ConfigError(
                f"invalid {name(option)}: the production backend needs a "
                "postgresql:// or postgres:// DSN"
            )
        dsns[option.flag] = dsn
    mirror_root: Path | None = get(MIRROR_ROOT)
    tenant_id: str | None = get(TENANT_ID)
    run_id: int | None = get(RUN_ID)
    worker_id: int | None = get(WORKER_ID)
    policy_hash: str | None = get(POLICY_HASH)
    tenant_secret_key: bytes | None = get(TENANT_SECRET_KEY)
    given: dict[str, object] = {
        ETCD_ENDPOINTS.flag: endpoints,
        ETCD_NAMESPACE.flag: namespace,
        **dsns,
        MIRROR_ROOT.flag: mirror_root,
        TENANT_ID.flag: tenant_id,
        RUN_ID.flag: run_id,
        WORKER_ID.flag: worker_id,
        POLICY_HASH.flag: policy_hash,
        TENANT_SECRET_KEY.flag: tenant_secret_key,
    }

    max_items: int = get(MAX_ITEMS)
    max_bytes: int = get(MAX_BYTES)
    commit_queue_capacity: int = get(COMMIT_QUEUE_CAPACITY)
    lease_ttl_s: int = get(LEASE_TTL)
    poll_interval_s: float = get(POLL_INTERVAL)
    exit_when_done: bool = get(EXIT_WHEN_DONE)
    schema_policy = MigrationPolicy(get(SCHEMA_POLICY))
    jobs: int = get(JOBS)
    engine = resolve_engine_flags(flags=flags, environ=environ)
    content = resolve_content(get=get, name=name)

    if mode is WorkerMode.CONNECTOR:
        _require(_CONNECTOR_REQUIRED, given, why="required in connector mode")
    elif backend is Backend.PRODUCTION:
        _require(_DIRECT_PRODUCTION_REQUIRED, given, why="required with the production backend")

    config = WorkerConfig(
        mode=mode,
        backend=backend,
        source=source,
        path=path,
        etcd_endpoints=endpoints or (),
        etcd_namespace=namespace,
        findings_dsn=dsns[FINDINGS_DSN.flag],
        ledger_dsn=dsns[LEDGER_DSN.flag],
        git_kv_dsn=dsns[GIT_KV_DSN.flag],
        mirror_root=mirror_root,
        tenant_id=DEFAULT_TENANT if tenant_id is None else tenant_id,
        run_id=run_id,
        worker_id=worker_id,
        policy_hash=policy_hash,
        tenant_secret_key=tenant_secret_key,
        max_items=max_items,
        max_bytes=max_bytes,
        commit_queue_capacity=commit_queue_capacity,
        lease_ttl_s=lease_ttl_s,
        poll_interval_s=poll_interval_s,
        exit_when_done=exit_when_done,
        schema_policy=schema_policy,
        jobs=jobs,
        engine=engine,
        content=content,
    )
    if mode is WorkerMode.CONNECTOR and source is SourceKind.GIT:
        config.require_git_settings()
    return config


def _split_positional(words: Sequence[str]) -> tuple[str | None, str | None]:
    """``[fs|git] [PATH]``: a first word naming a source is the source."""
    if len(words) > 2:
        raise ConfigError("too many positional arguments: expected [fs|git] [PATH]")
    rest = list(words)
    source = rest.pop(0) if rest and rest[0] in tuple(SourceKind) else None
    if len(rest) == 2:
        raise ConfigError(f"unknown source {rest[0]!r}: expected fs or git")
    path = rest[0] if rest else None
    if path is not None and not path.strip():
        raise ConfigError("invalid PATH: must not be empty")
    return source, path


def _require(options: Sequence[Option[Any]], given: Mapping[str, object], *, why: str) -> None:
    for option in options:
        if given[option.flag] is None:
            raise _BY_FLAG[option.flag].missing(why)


def resolve_content(
    *, get: Callable[[Option[Any]], Any], name: Callable[[Option[Any]], str]
) -> ContentSettings:
    ignore_file: str | None = get(IGNORE_FILE)
    if ignore_file is not None and not Path(ignore_file).is_file():
        raise ConfigError(f"invalid {name(IGNORE_FILE)}: {ignore_file} is not a file")
    return ContentSettings(
        scan_binary=get(SCAN_BINARY),
        skip_archives=get(SKIP_ARCHIVES),
        respect_gitignore=not get(NO_GITIGNORE),
        max_file_bytes=get(MAX_FILE_SIZE),
        ignore_file=None if ignore_file is None else Path(ignore_file),
    )
