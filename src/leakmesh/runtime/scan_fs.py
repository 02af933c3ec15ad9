"""`scan_fs`: the local filesystem pipeline — walk, read, scan on all cores.

The walk runs in the calling thread and hands out batches of files; workers
(forked processes by default, or threads) read, classify and scan them. Each
worker keeps its own Hyperscan scratch. Results are merged in a stable order.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path

import blake3

from leakmesh.engine.finding import Finding
from leakmesh.engine.scanner import BufferScanner, Engine
from leakmesh.runtime.stats import ScanResult, ScanStats, finding_sort_key
from leakmesh.sources.filesystem import FileEntry, FsSourceOptions, read_entry, walk
from leakmesh.sources.items import Item, Skipped

MIB = 1024 * 1024


class ExecutorKind(str, Enum):
    PROCESS = "process"
    THREAD = "thread"


@dataclass(frozen=True, slots=True)
class LocalScanOptions:
    jobs: int = 0
    """Workers; 0 means one per core."""
    executor: ExecutorKind = ExecutorKind.PROCESS
    batch_bytes: int = 4 * MIB
    batch_files: int = 64
    source: FsSourceOptions = field(default_factory=FsSourceOptions)

    def worker_count(self) -> int:
        return self.jobs if self.jobs > 0 else (os.cpu_count() or 1)


@dataclass(slots=True)
class BatchResult:
    findings: list[Finding] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    items: int = 0
    bytes: int = 0


ProgressCallback = Callable[[int, int], None]
"""Called with (files done, bytes done) after each batch."""
FindingsCallback = Callable[[list[Finding]], None]


class _WorkerState(threading.local):
    scanner: BufferScanner | None = None


_engine: Engine | None = None
_state = _WorkerState()


def _install_engine(engine: Engine) -> None:
    global _engine
    _engine = engine
    _state.scanner = None


def _scanner() -> BufferScanner:
    if _state.scanner is None:
        assert _engine is not None, "worker started without an engine"
        _state.scanner = _engine.scanner()
    return _state.scanner


def object_id(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def scan_items(items: Iterable[Item | Skipped], scanner: BufferScanner) -> BatchResult:
    result = BatchResult()
    for item in items:
        if isinstance(item, Skipped):
            result.skipped.append(item)
            continue
        result.items += 1
        result.bytes += len(item.data)
        found = scanner.scan(item.data, path=item.key)
        if found:
            oid = object_id(item.data)
            result.findings.extend(
                replace(f, location=replace(f.location, object_id=oid)) for f in found
            )
    return result


def _scan_batch(entries: list[FileEntry], options: FsSourceOptions) -> BatchResult:
    scanner = _scanner()
    return scan_items((item for entry in entries for item in read_entry(entry, options)), scanner)


def _batches(
    entries: Iterable[FileEntry | Skipped], options: LocalScanOptions, skipped: list[Skipped]
) -> Iterator[list[FileEntry]]:
    batch: list[FileEntry] = []
    size = 0
    for entry in entries:
        if isinstance(entry, Skipped):
            skipped.append(entry)
            continue
        batch.append(entry)
        size += entry.size
        if len(batch) >= options.batch_files or size >= options.batch_bytes:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _executor(options: LocalScanOptions) -> Executor:
    workers = options.worker_count()
    if options.executor is ExecutorKind.THREAD:
        return ThreadPoolExecutor(max_workers=workers)
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork"))


def scan_fs(
    root: Path,
    *,
    engine: Engine,
    options: LocalScanOptions,
    on_findings: FindingsCallback | None = None,
    on_progress: ProgressCallback | None = None,
) -> ScanResult:
    started = time.perf_counter()
    stats = ScanStats()
    skipped: list[Skipped] = []
    findings: list[Finding] = []
    files_done = bytes_done = 0

    def absorb(result: BatchResult, files: int) -> None:
        nonlocal files_done, bytes_done
        stats.items_scanned += result.items
        stats.bytes_scanned += result.bytes
        skipped.extend(result.skipped)
        findings.extend(result.findings)
        if on_findings is not None and result.findings:
            on_findings(result.findings)
        files_done += files
        bytes_done += result.bytes
        if on_progress is not None:
            on_progress(files_done, bytes_done)

    _install_engine(engine)
    batches = _batches(walk(root, options.source), options, skipped)
    if options.worker_count() == 1:
        for batch in batches:
            absorb(_scan_batch(batch, options.source), len(batch))
    else:
        with _executor(options) as pool:
            limit = options.worker_count() * 4
            pending: dict[Future[BatchResult], int] = {}
            for batch in batches:
                pending[pool.submit(_scan_batch, batch, options.source)] = len(batch)
                if len(pending) >= limit:
                    _drain(pending, absorb, block_until=limit // 2)
            _drain(pending, absorb, block_until=0)
    for skip in skipped:
        stats.record_skip(skip)
    findings.sort(key=finding_sort_key)
    stats.findings_emitted = len(findings)
    stats.duration_s = time.perf_counter() - started
    policy = engine.policy_hash(options.source.policy_options())
    return ScanResult(findings=findings, stats=stats, skipped=skipped, policy_hash=policy)


def _drain(
    pending: dict[Future[BatchResult], int],
    absorb: Callable[[BatchResult, int], None],
    *,
    block_until: int,
) -> None:
    while len(pending) > block_until:
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            absorb(future.result(), pending.pop(future))
