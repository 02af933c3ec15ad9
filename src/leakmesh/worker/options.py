"""Every worker setting (SPEC §7): its flag, variable, parser and default, and
`WORKER_OPTIONS`, the one list the CLI parser and the README table are built from
and checked against."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from msgspec import Struct

from leakmesh.engine.engine import DEFAULT_DECODE_DEPTH, MAX_DECODE_DEPTH
from leakmesh.sources.filesystem import DEFAULT_MAX_FILE_BYTES, IGNORE_FILE_NAME
from leakmesh.worker.engine_settings import (
    ANCHOR_MODE,
    CACHE_DIR,
    DECODE_DEPTH,
    RULES_FILE,
    TENANT_KEY,
)
from leakmesh.worker.parsers import (
    GIB,
    MIB,
    Endpoint,
    hex_digest,
    parse_dsn_text,
    parse_endpoints,
    parse_namespace,
    parse_path,
    parse_text,
    show_size,
)
from leakmesh.worker.scan_options import (
    IGNORE_FILE,
    MAX_FILE_SIZE,
    NO_GITIGNORE,
    SCAN_BINARY,
    SCHEMA_POLICY,
    SKIP_ARCHIVES,
)
from leakmesh.worker.settings import (
    ConfigError,
    Option,
    byte_size,
    choice,
    float_in_range,
    int_in_range,
    parse_bool,
)


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


# ---------------------------------------------------------------- options

MODE = Option("--mode", "LEAKMESH_WORKER_MODE", choice("direct", "connector"), "connector")
BACKEND = Option[str | None](
    "--backend", "LEAKMESH_WORKER_BACKEND", choice("local", "production"), None
)
SOURCE = Option[str | None]("--source", "LEAKMESH_WORKER_SOURCE", choice("fs", "git"), None)
PATH = Option[str | None]("--path", "LEAKMESH_WORKER_PATH", parse_text, None)
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


class WorkerOption(Struct, frozen=True):
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

BY_FLAG = {entry.flag: entry for entry in WORKER_OPTIONS}
# What connector mode cannot run without, in the order the first missing is named.
CONNECTOR_REQUIRED = (
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
GIT_REQUIRED = (GIT_KV_DSN, MIRROR_ROOT)
# Direct mode with the production backend still writes to PostgreSQL: no silent
# fallback to nothing.
DIRECT_PRODUCTION_REQUIRED = (FINDINGS_DSN, LEDGER_DSN)
