"""`scan_fs`: the local filesystem pipeline — walk, read, scan on all cores.

The walk runs in the calling thread and hands out batches of files; workers
read, classify and scan them. Results are merged in path order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from msgspec import Struct, field

from leakmesh.engine.finding import Finding
from leakmesh.runtime.pool import (
    BatchResult,
    PoolOptions,
    content_id,
    merge,
    outcome,
    run_batches,
    scan_items,
    worker_scanner,
)
from leakmesh.runtime.stats import ScanResult, ScanStats, finding_sort_key
from leakmesh.sources.filesystem import FileEntry, FsSourceOptions, classify, read_file, walk
from leakmesh.sources.items import Skipped, SkipReason

if TYPE_CHECKING:
    from leakmesh.engine.engine import Engine
    from leakmesh.store.models import LedgerStatus

MIB = 1024 * 1024

ProgressCallback = Callable[[int, int], None]
"""Called with (objects done, bytes done) after each batch."""
FindingsCallback = Callable[[list[Finding]], None]


class LocalScanOptions(Struct, frozen=True):
    pool: PoolOptions = field(default_factory=PoolOptions)
    batch_bytes: int = 4 * MIB
    batch_files: int = 64
    source: FsSourceOptions = field(default_factory=FsSourceOptions)


AlreadyDone = Callable[[list[str]], set[str]]
"""Given object ids, the ones the done-ledger already holds for this policy."""


def scan_file_batch(
    entries: list[FileEntry], options: FsSourceOptions, *, ledger: bool = True
) -> BatchResult:
    """Scan the files; with `ledger`, record how each content's scan ended (its
    hash is the ledger's key: a scan without a datastore does not hash)."""
    result = BatchResult(objects=len(entries))
    scanner = worker_scanner()
    for entry in entries:
        data = read_file(entry, options)
        if isinstance(data, Skipped):
            result.skipped.append(data)
            continue
        part = BatchResult()
        scan_items(classify(entry.key, data, options), scanner, part)
        if ledger:
            result.outcomes[content_id(data)] = outcome(part)
        merge(result, part)
    return result


def not_done(
    batch: list[FileEntry],
    options: FsSourceOptions,
    already_done: AlreadyDone,
    skipped: list[Skipped],
) -> list[FileEntry]:
    """Drop files whose content the ledger already holds (read and hashed here;
    the worker's second read comes from the page cache)."""
    ids: dict[str, str] = {}
    for entry in batch:
        data = read_file(entry, options)
        if not isinstance(data, Skipped):
            ids[entry.key] = content_id(data)
    done = already_done(list(ids.values()))
    kept = []
    for entry in batch:
        if entry.key in ids and ids[entry.key] in done:
            skipped.append(Skipped(entry.key, SkipReason.ALREADY_SCANNED))
        else:
            kept.append(entry)
    return kept


class LedgerBackoff:
    """When to ask the done-ledger about the next batch: always while it knows a
    good part of what it is asked (a rescan); after a batch where it knew fewer
    than `MIN_HIT_RATIO`, not for the next batches, 8 the first time and twice as
    many each time after (up to 512), until a batch is mostly known again. What
    goes unasked is scanned again if known, which is harmless (upserts are
    idempotent). One backoff can serve many scans of a run (a fleet worker's
    shards): what it learnt holds for the run."""

    MIN_HIT_RATIO = 0.25
    """Below this, asking costs more than the scans it saves."""
    FIRST_PAUSE_BATCHES = 8
    MAX_PAUSE_BATCHES = 512

    def __init__(self) -> None:
        self._pause = 0
        self._next_pause = self.FIRST_PAUSE_BATCHES

    def should_ask(self) -> bool:
        if self._pause:
            self._pause -= 1
            return False
        return True

    def answered(self, *, asked: int, known: int) -> None:
        if known < self.MIN_HIT_RATIO * asked:
            self._pause = self._next_pause
            self._next_pause = min(2 * self._next_pause, self.MAX_PAUSE_BATCHES)
        else:
            self._next_pause = self.FIRST_PAUSE_BATCHES


class LedgerGate:
    """Asks the done-ledger about a batch of files before it is scanned, while
    that pays (`LedgerBackoff`): asking costs a read and a hash of every file
    ahead of the scan's own read, worth it on a rescan, not on a first scan."""

    def __init__(self, options: FsSourceOptions) -> None:
        self._options = options
        self._backoff = LedgerBackoff()

    def pass_through(
        self, batch: list[FileEntry], skipped: list[Skipped], already_done: AlreadyDone | None
    ) -> list[FileEntry]:
        """The files of `batch` to scan; those left out are added to `skipped`."""
        if already_done is None or not batch or not self._backoff.should_ask():
            return batch
        kept = not_done(batch, self._options, already_done, skipped)
        self._backoff.answered(asked=len(batch), known=len(batch) - len(kept))
        return kept


def _batches(
    entries: Iterable[FileEntry | Skipped],
    options: LocalScanOptions,
    skipped: list[Skipped],
    already_done: AlreadyDone | None,
) -> Iterator[list[FileEntry]]:
    batch: list[FileEntry] = []
    size = 0
    gate = LedgerGate(options.source)

    for entry in entries:
        if isinstance(entry, Skipped):
            skipped.append(entry)
            continue
        batch.append(entry)
        size += entry.size
        if len(batch) >= options.batch_files or size >= options.batch_bytes:
            if kept := gate.pass_through(batch, skipped, already_done):
                yield kept
            batch, size = [], 0
    if batch and (kept := gate.pass_through(batch, skipped, already_done)):
        yield kept


class Collector:
    """Absorbs batch results into stats, findings and skips, with callbacks."""

    def __init__(
        self, *, on_findings: FindingsCallback | None, on_progress: ProgressCallback | None
    ) -> None:
        self.started = time.perf_counter()
        self.stats = ScanStats()
        self.skipped: list[Skipped] = []
        self.findings: list[Finding] = []
        self.outcomes: dict[str, LedgerStatus] = {}
        self._on_findings = on_findings
        self._on_progress = on_progress
        self._objects = 0

    def absorb(self, result: BatchResult) -> None:
        self.stats.items_scanned += result.items
        self.stats.bytes_scanned += result.bytes
        self.skipped.extend(result.skipped)
        self.findings.extend(result.findings)
        self.outcomes.update(result.outcomes)
        if self._on_findings is not None and result.findings:
            self._on_findings(result.findings)
        self._objects += result.objects
        if self._on_progress is not None:
            self._on_progress(self._objects, self.stats.bytes_scanned)

    def result(self, policy_hash: str) -> ScanResult:
        for skip in self.skipped:
            self.stats.record_skip(skip)
        self.findings.sort(key=finding_sort_key)
        self.stats.findings_emitted = len(self.findings)
        self.stats.duration_s = time.perf_counter() - self.started
        return ScanResult(
            findings=self.findings,
            stats=self.stats,
            skipped=self.skipped,
            policy_hash=policy_hash,
            outcomes=self.outcomes,
        )


def scan_fs(
    root: Path,
    *,
    engine: Engine,
    options: LocalScanOptions,
    on_findings: FindingsCallback | None = None,
    on_progress: ProgressCallback | None = None,
    already_done: AlreadyDone | None = None,
) -> ScanResult:
    collector = Collector(on_findings=on_findings, on_progress=on_progress)
    run_batches(
        _batches(walk(root, options.source), options, collector.skipped, already_done),
        partial(scan_file_batch, options=options.source, ledger=already_done is not None),
        engine=engine,
        options=options.pool,
        absorb=collector.absorb,
    )
    return collector.result(engine.policy_hash(options.source.policy_options()))
