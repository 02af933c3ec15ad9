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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msgspec import Struct

from leakmesh.store.dsn import parse_dsn, redact
from leakmesh.store.migrate import MigrationPolicy
from leakmesh.store.models import DEFAULT_TENANT
from leakmesh.worker.engine_settings import (
    EngineSettings,
    resolve_engine_flags,
)
from leakmesh.worker.options import (
    BACKEND,
    BY_FLAG,
    COMMIT_QUEUE_CAPACITY,
    CONNECTOR_REQUIRED,
    DIRECT_PRODUCTION_REQUIRED,
    ETCD_ENDPOINTS,
    ETCD_NAMESPACE,
    EXIT_WHEN_DONE,
    FINDINGS_DSN,
    GIT_KV_DSN,
    GIT_REQUIRED,
    JOBS,
    LEASE_TTL,
    LEDGER_DSN,
    MAX_BYTES,
    MAX_ITEMS,
    MIRROR_ROOT,
    MODE,
    PATH,
    POLICY_HASH,
    POLL_INTERVAL,
    RUN_ID,
    SOURCE,
    TENANT_ID,
    TENANT_SECRET_KEY,
    WORKER_ID,
    Backend,
    SourceKind,
    WorkerMode,
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
)

if TYPE_CHECKING:
    from leakmesh.worker.parsers import Endpoint

# ---------------------------------------------------------------- the configuration


class WorkerConfig(Struct, frozen=True):
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
    tenant_secret_key: bytes | None
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
        for option in GIT_REQUIRED:
            if values[option.flag] is None:
                raise BY_FLAG[option.flag].missing("required for git runs in connector mode")

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

    def __rich_repr__(self) -> list[tuple[str, object]]:
        return list(self.describe().items())

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
    unknown = sorted(set(flags) - set(BY_FLAG))
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
        _require(CONNECTOR_REQUIRED, given, why="required in connector mode")
    elif backend is Backend.PRODUCTION:
        _require(DIRECT_PRODUCTION_REQUIRED, given, why="required with the production backend")

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
            raise BY_FLAG[option.flag].missing(why)


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
