"""Run scanning batches on all cores: forked processes (default) or threads.

Each worker keeps its own per-process state (a `BufferScanner` with its own
Hyperscan scratch, git blob readers); the caller absorbs results as they come.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

import blake3
from msgspec import Struct, field
from msgspec.structs import replace

from leakmesh.sources.items import Item, Skipped
from leakmesh.store.models import LedgerStatus

if TYPE_CHECKING:
    from leakmesh.engine.engine import Engine
    from leakmesh.engine.finding import Finding
    from leakmesh.engine.scanner import BufferScanner

B = TypeVar("B")


class ExecutorKind(str, Enum):
    PROCESS = "process"
    THREAD = "thread"


class PoolOptions(Struct, frozen=True):
    jobs: int = 0
    """Workers; 0 means one per core."""
    executor: ExecutorKind = ExecutorKind.PROCESS

    def worker_count(self) -> int:
        return self.jobs if self.jobs > 0 else (os.cpu_count() or 1)


class BatchResult(Struct):
    findings: list[Finding] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    items: int = 0
    bytes: int = 0
    objects: int = 0
    """Top-level objects (files, blobs) handled in the batch."""
    outcomes: dict[str, LedgerStatus] = field(default_factory=dict)
    """Top-level object id → how its scan ended, for the done-ledger."""
    tag: int = 0
    """Which page of a fleet shard the batch belonged to."""


class WorkerState(threading.local):
    """What one worker keeps between batches."""

    scanner: BufferScanner | None = None
    resources: dict[str, Any]

    def __init__(self) -> None:
        self.resources = {}


_engine: Engine | None = None
state = WorkerState()


def install_engine(engine: Engine) -> None:
    """Make `engine` the workers' engine; forked workers inherit it."""
    global _engine
    _engine = engine
    state.scanner = None


def worker_scanner() -> BufferScanner:
    if state.scanner is None:
        assert _engine is not None, "worker started without an engine"
        state.scanner = _engine.scanner()
    return state.scanner


def content_id(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def outcome(result: BatchResult) -> LedgerStatus:
    """How one object's scan ended, from the result of scanning only that object."""
    if result.findings:
        return LedgerStatus.SCANNED_WITH_FINDINGS
    if result.items:
        return LedgerStatus.SCANNED_CLEAN
    return LedgerStatus.SKIPPED


def merge(into: BatchResult, part: BatchResult) -> None:
    into.findings.extend(part.findings)
    into.skipped.extend(part.skipped)
    into.items += part.items
    into.bytes += part.bytes
    into.objects += part.objects
    into.outcomes.update(part.outcomes)


def scan_items(
    items: Iterable[Item | Skipped],
    scanner: BufferScanner,
    result: BatchResult,
    *,
    object_id: Callable[[Item], str] = lambda item: content_id(item.data),
) -> None:
    for item in items:
        if isinstance(item, Skipped):
            result.skipped.append(item)
            continue
        result.items += 1
        result.bytes += len(item.data)
        found = scanner.scan(item.data, path=item.key)
        if found:
            oid = object_id(item)
            result.findings.extend(
                replace(f, location=replace(f.location, object_id=oid)) for f in found
            )


def _executor(options: PoolOptions) -> Executor:
    workers = options.worker_count()
    if options.executor is ExecutorKind.THREAD:
        return ThreadPoolExecutor(max_workers=workers)
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork"))


def _started() -> None:
    """The first job: makes a fork pool start all its processes now."""


class ScanPool:
    """The scanning workers, for one scan or for many.

    A fleet worker makes one before it opens any network connection and reuses it
    for every shard: forking later, while gRPC's threads run, can crash the
    children. `start()` forks the processes at once (a fork pool starts them all
    on its first job).
    """

    def __init__(self, *, engine: Engine, options: PoolOptions) -> None:
        self.engine = engine
        self.options = options
        self._executor: Executor | None = None

    def start(self) -> ScanPool:
        if self._executor is None and self.options.worker_count() > 1:
            install_engine(self.engine)
            self._executor = _executor(self.options)
            if self.options.executor is ExecutorKind.PROCESS:
                self.engine.prepare_for_fork()
                self._executor.submit(_started).result()
        return self

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None

    def __enter__(self) -> ScanPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(
        self,
        batches: Iterable[B],
        work: Callable[[B], BatchResult],
        *,
        absorb: Callable[[BatchResult], None],
        on_submitted: Callable[[], None] | None = None,
    ) -> None:
        """`work` each batch on the workers, at most a few batches ahead of `absorb`;
        the workers start with the first batch when `start()` was not called.
        `on_submitted` is called once the last batch is handed out, before its
        result is in: another thread may then start a run of its own on the same
        pool (a fleet worker's next shard), so that no worker idles meanwhile."""
        install_engine(self.engine)
        if self.options.worker_count() == 1:
            for batch in batches:
                absorb(work(batch))
            if on_submitted is not None:
                on_submitted()
            return
        limit = self.options.worker_count() * 4
        pending: set[Future[BatchResult]] = set()
        for batch in batches:
            # Started lazily: a scan with nothing to do forks nothing.
            executor = self.start()._executor
            assert executor is not None
            pending.add(executor.submit(work, batch))
            if len(pending) >= limit:
                pending = _drain(pending, absorb, keep=limit // 2)
        if on_submitted is not None:
            on_submitted()
        _drain(pending, absorb, keep=0)


def run_batches(
    batches: Iterable[B],
    work: Callable[[B], BatchResult],
    *,
    engine: Engine,
    options: PoolOptions,
    absorb: Callable[[BatchResult], None],
) -> None:
    """`work` each batch on workers that live as long as this call."""
    with ScanPool(engine=engine, options=options) as pool:
        pool.run(batches, work, absorb=absorb)


def _drain(
    pending: set[Future[BatchResult]], absorb: Callable[[BatchResult], None], *, keep: int
) -> set[Future[BatchResult]]:
    while len(pending) > keep:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            absorb(future.result())
    return pending
