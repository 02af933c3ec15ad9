"""The worker's composition root: from a validated `WorkerConfig` to a running
worker, and the exit-code policy.

Connector mode builds the production backends only — etcd and PostgreSQL, never
a double — and checks each before claiming any shard: etcd answers, every
schema passes its policy, the run exists and was planned for this tenant and
this policy hash. Exit codes: 0 done (or stopped by SIGTERM/SIGINT), 1 findings
(direct mode), 2 invalid configuration, 3 a dependency not ready at startup (or
a database error that waiting cannot mend).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from leakmesh.coordination.errors import CoordinationError, UnknownRun
from leakmesh.coordination.etcd import EtcdCoordinator
from leakmesh.coordination.models import ShardLease
from leakmesh.coordination.models import SourceKind as RunSource
from leakmesh.runtime.fleet import run_worker
from leakmesh.runtime.fleet_plan import WorkerPlan
from leakmesh.runtime.local_store import IncrementalScan, StoreTarget, scan_with_store
from leakmesh.runtime.pool import ExecutorKind, PoolOptions, ScanPool
from leakmesh.runtime.scan_fs import AlreadyDone, LocalScanOptions, scan_fs
from leakmesh.runtime.scan_git import GitScanOptions, scan_git, scan_git_since
from leakmesh.runtime.shard_pages import Page, PageBudget
from leakmesh.runtime.stores import Stores, open_stores
from leakmesh.sources.git import GitError, open_repository, ref_tips
from leakmesh.store.errors import StoreError
from leakmesh.store.postgres import PostgresDatastore
from leakmesh.worker.engine_settings import build_engine
from leakmesh.worker.logs import JsonLog
from leakmesh.worker.options import SourceKind, WorkerMode
from leakmesh.worker.settings import ConfigError
from leakmesh.worker.telemetry import LogSink, TelemetryRecorder
from leakmesh.worker.telemetry_fields import FindingEvent, ProgressEvent, SummaryEvent

if TYPE_CHECKING:
    from leakmesh.engine.engine import Engine
    from leakmesh.runtime.stats import ScanResult
    from leakmesh.worker.config import WorkerConfig

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_CONFIG = 2
EXIT_NOT_READY = 3


class NotReady(Exception):
    """A dependency failed its startup check; the message is one line."""


def run_worker_command(config: WorkerConfig, *, environ: Mapping[str, str]) -> int:
    log = JsonLog(worker_id=config.worker_id)
    engine = build_engine(config.engine)
    if config.mode is WorkerMode.DIRECT:
        return _direct(config, engine, log)
    # psycopg's pool reports each failed reconnect as plain text through logging's
    # last-resort handler, which would break the JSON lines on stderr; the
    # worker's own events (worker.commit_failed, worker.store_unavailable) say it.
    logging.getLogger("psycopg").addHandler(logging.NullHandler())
    # Forked now, before any connection: forking while gRPC's threads run can
    # crash the children (seen as BrokenProcessPool). Every shard scans on it.
    scan_pool = ScanPool(engine=engine, options=PoolOptions(config.jobs, ExecutorKind.PROCESS))
    scan_pool.start()
    try:
        with scan_pool:
            return asyncio.run(_connector(config, engine, log, scan_pool))
    except NotReady as exc:
        log("worker.not_ready", error=str(exc), level="error")
        print(f"leakmesh: not ready: {exc}", flush=True, file=sys.stderr)
        return EXIT_NOT_READY
    except StoreError as exc:
        # Not an outage (those are waited out): a schema that no longer passes,
        # or an error retrying cannot mend. Fail closed as at startup; the shards
        # in hand were given back.
        log("worker.store_failed", error=str(exc), level="error")
        print(f"leakmesh: datastore failed: {exc}", flush=True, file=sys.stderr)
        return EXIT_NOT_READY


def policy_hash_for(engine: Engine, config: WorkerConfig, *, root: Path) -> str:
    return engine.policy_hash(config.content.source_options(root=root).policy_options())


def _direct(config: WorkerConfig, engine: Engine, log: JsonLog) -> int:
    """Scan the local source once; with a findings DSN (SQLite with the local
    backend, PostgreSQL with production), skip what the ledger holds and persist
    what is found, as `leakmesh scan --store` does."""
    root = config.path or Path(".")
    content = config.content.source_options(root=root)
    pool = PoolOptions(jobs=config.jobs)
    repo = None
    if config.source is SourceKind.GIT:
        try:
            repo = open_repository(root)
        except GitError as exc:
            raise ConfigError(str(exc)) from None

    tips = ref_tips(repo) if repo is not None and config.findings_dsn is not None else None

    def scan(already_done: AlreadyDone | None, covered: Mapping[str, str]) -> ScanResult:
        if repo is None:
            options_fs = LocalScanOptions(pool=pool, source=content)
            return scan_fs(root, engine=engine, options=options_fs, already_done=already_done)
        options = GitScanOptions(pool=pool, content=content)
        if tips is None:
            return scan_git(repo, engine=engine, options=options, already_done=already_done)
        # With a datastore the walk starts where the last one under this policy ended.
        return scan_git_since(
            repo,
            engine=engine,
            options=options,
            covered=covered,
            already_done=already_done,
        )

    if config.findings_dsn is None:
        result = scan(None, {})
    else:
        target = StoreTarget(
            tenant=config.tenant_id,
            source="git" if repo is not None else "fs",
            repo=str((repo.git_dir if repo is not None else root).resolve()),
            policy_hash=engine.policy_hash(content.policy_options()),
        )
        result = asyncio.run(_direct_with_stores(config, target, scan, tips, log))
    log(
        "worker.direct_summary",
        items_scanned=result.stats.items_scanned,
        bytes_scanned=result.stats.bytes_scanned,
        items_skipped=sum(result.stats.items_skipped.values()),
        findings=len(result.findings),
    )
    return EXIT_FINDINGS if result.findings else EXIT_OK


async def _direct_with_stores(
    config: WorkerConfig,
    target: StoreTarget,
    scan: IncrementalScan,
    tips: dict[str, str] | None,
    log: JsonLog,
) -> ScanResult:
    assert config.findings_dsn is not None
    ledger_dsn = config.ledger_dsn or config.findings_dsn
    try:
        async with open_stores(
            findings=config.findings_dsn,
            ledger=ledger_dsn,
            frontier=config.git_kv_dsn or ledger_dsn,
            policy=config.schema_policy,
        ) as stores:
            result, counts = await scan_with_store(stores, target, scan, frontier_tips=tips)
    except StoreError as exc:
        raise ConfigError(str(exc)) from None
    log(
        "worker.direct_persisted",
        findings_new=counts.findings,
        occurrences_new=counts.occurrences,
        ledger_marked=len(result.outcomes),
    )
    return result


def _record_page(telemetry: TelemetryRecorder, lease: ShardLease, page: Page) -> None:
    """Committed work as telemetry: sanitized before any sink sees a path or id."""
    telemetry.record(
        ProgressEvent(
            shard_id=int(lease.spec.shard_id), items=page.result.objects, bytes=page.result.bytes
        )
    )
    for finding in page.result.findings:
        commit = finding.location.commit
        telemetry.record(
            FindingEvent(
                rule_id=finding.rule_id,
                fingerprint=finding.fingerprint,
                path=finding.location.path,
                line=finding.location.line,
                repo=lease.spec.location,
                commit=commit.commit if commit else None,
            )
        )


async def _open_store(dsn: str, config: WorkerConfig, what: str) -> PostgresDatastore:
    try:
        return await PostgresDatastore.open(dsn, policy=config.schema_policy)
    except StoreError as exc:
        raise NotReady(f"{what}: {exc}") from None


async def _connector(
    config: WorkerConfig, engine: Engine, log: JsonLog, scan_pool: ScanPool
) -> int:
    assert config.etcd_namespace is not None and config.findings_dsn is not None
    assert config.ledger_dsn is not None and config.run_id is not None
    assert config.worker_id is not None and config.policy_hash is not None
    try:
        coordinator = await EtcdCoordinator.connect(
            config.etcd_endpoints, namespace=config.etcd_namespace
        )
    except CoordinationError as exc:
        raise NotReady(str(exc)) from None
    opened: list[PostgresDatastore] = []
    try:
        findings = await _open_store(config.findings_dsn, config, "findings store")
        opened.append(findings)
        ledger = findings
        if config.ledger_dsn != config.findings_dsn:
            ledger = await _open_store(config.ledger_dsn, config, "done-ledger store")
            opened.append(ledger)
        try:
            run = await coordinator.get_run(config.run_id)
        except UnknownRun:
            raise ConfigError(f"invalid LEAKMESH_RUN_ID: no run {config.run_id} in etcd") from None
        if run.tenant != config.tenant_id:
            raise ConfigError("invalid LEAKMESH_TENANT_ID: the run belongs to another tenant")
        if config.source is not None and config.source.value != run.source.value:
            raise ConfigError(
                f"invalid LEAKMESH_WORKER_SOURCE: run {run.run_id} is {run.source.value}"
            )
        frontier = ledger
        if run.source is RunSource.GIT:
            config.require_git_settings()
            assert config.git_kv_dsn is not None
            if config.git_kv_dsn not in (config.findings_dsn, config.ledger_dsn):
                frontier = await _open_store(config.git_kv_dsn, config, "git frontier store")
                opened.append(frontier)
        root = config.path or Path(run.target)
        computed = policy_hash_for(engine, config, root=root)
        if computed != config.policy_hash or run.policy_hash != config.policy_hash:
            raise ConfigError(
                "invalid LEAKMESH_POLICY_HASH: the run, the configuration and this worker's "
                f"rules and options must agree (this worker computes {computed})"
            )
        content = config.content.source_options(root=root)
        plan = WorkerPlan(
            run_id=config.run_id,
            worker_id=config.worker_id,
            tenant=config.tenant_id,
            policy_hash=config.policy_hash,
            lease_ttl_s=config.lease_ttl_s,
            poll_interval_s=config.poll_interval_s,
            exit_when_done=config.exit_when_done,
            budget=PageBudget(config.max_items, config.max_bytes, config.commit_queue_capacity),
            fs=LocalScanOptions(pool=scan_pool.options, source=content),
            git=GitScanOptions(pool=scan_pool.options, content=content),
            mirror_root=config.mirror_root,
            fs_root=config.path,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        log("worker.ready", run_id=run.run_id, source=run.source.value, config=config.describe())
        telemetry = TelemetryRecorder(sinks=[LogSink(stream=sys.stderr)], warn=log)
        recording = asyncio.create_task(telemetry.run())
        started = time.monotonic()
        try:
            report = await run_worker(
                coordinator=coordinator,
                stores=Stores(findings, ledger, frontier),
                engine=engine,
                plan=plan,
                stop=stop,
                log=log,
                on_commit=partial(_record_page, telemetry),
                scan_pool=scan_pool,
            )
            telemetry.record(
                SummaryEvent(
                    items_scanned=report.items_committed,
                    bytes_scanned=report.bytes_committed,
                    items_skipped=0,
                    findings_emitted=report.findings_committed,
                    duration_ms=int((time.monotonic() - started) * 1000),
                )
            )
        finally:
            await telemetry.close()
            await recording
        return EXIT_OK
    finally:
        for store in opened:
            await store.close()
        await coordinator.close()
