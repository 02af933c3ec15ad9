"""Scan one fleet shard as a sequence of pages (the producer side of SPEC §6).

The shard's items are cut into pages bounded by `max_items` and `max_bytes`;
each page into batches for the scanning workers (a `ScanPool` the caller owns:
a fleet worker keeps one for all its filesystem shards). Batches finish in any order; the
`PageAssembler` hands pages on strictly in order, once all their batches are in,
so a page's cursor means "everything up to here is scanned". This runs in a
thread; `halt` stops it between batches (lease lost, SIGTERM).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from msgspec import Struct, field

from leakmesh.runtime.pool import BatchResult, ScanPool, merge
from leakmesh.runtime.scan_fs import (
    AlreadyDone,
    LedgerBackoff,
    LedgerGate,
    LocalScanOptions,
    scan_file_batch,
)
from leakmesh.runtime.scan_git import (
    GitScanOptions,
    HistoryBatches,
    close_blob_readers,
    copied_findings,
    earliest_introductions,
    scan_blob_batch,
)
from leakmesh.sources.filesystem import FileEntry, ignored_paths, walk
from leakmesh.sources.git_history import walk_history

if TYPE_CHECKING:
    from leakmesh.coordination.models import ShardSpec
    from leakmesh.engine.finding import Finding
    from leakmesh.sources.git import BlobRef, Repository

B = TypeVar("B")
MIB = 1024 * 1024
LEDGER_GROUP = 1024
"""Git blob references asked about in one done-ledger lookup."""


class PageBudget(Struct, frozen=True):
    max_items: int = 4096
    max_bytes: int = 64 * MIB
    commit_queue_capacity: int = 64
    """Pages scanned but not yet committed; the scan waits when it is full."""


class Page(Struct):
    number: int
    cursor: str
    """The last key of the page: a resumed shard starts after it."""
    final: bool = False
    result: BatchResult = field(default_factory=BatchResult)
    """Its batches' results, merged."""


class PageAssembler:
    """Collects batch results by page and emits whole pages in page order."""

    def __init__(self, emit: Callable[[Page], None]) -> None:
        self._emit = emit
        self._pages: dict[int, Page] = {}
        self._expected: dict[int, int] = {}
        self._received: dict[int, int] = {}
        self._next_open = 0
        self._next_emit = 0

    def open(self, cursor: str, *, final: bool = False) -> Page:
        page = Page(self._next_open, cursor, final)
        self._pages[page.number] = page
        self._received[page.number] = 0
        self._next_open += 1
        return page

    def close(self, page: Page, *, batches: int) -> None:
        self._expected[page.number] = batches
        self._flush()

    def absorb(self, result: BatchResult) -> None:
        merge(self._pages[result.tag].result, result)
        self._received[result.tag] += 1
        self._flush()

    def _flush(self) -> None:
        while (n := self._next_emit) in self._expected and self._received[n] == self._expected[n]:
            self._emit(self._pages.pop(n))
            del self._expected[n], self._received[n]
            self._next_emit += 1


def _tagged(tagged: tuple[int, B], *, work: Callable[[B], BatchResult]) -> BatchResult:
    tag, batch = tagged
    result = work(batch)
    result.tag = tag
    return result


def _split(items: list[B], size: int) -> list[list[B]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def scan_fs_shard(
    root: Path,
    spec: ShardSpec,
    *,
    cursor: str,
    pool: ScanPool,
    options: LocalScanOptions,
    budget: PageBudget,
    already_done: AlreadyDone,
    gate: LedgerGate,
    emit: Callable[[Page], None],
    halt: threading.Event,
    on_submitted: Callable[[], None] | None = None,
) -> None:
    """The shard's files after `cursor`, in key order, page by page; the walk
    skips directories that hold nothing of the shard's range. `gate` decides when
    the ledger is asked; a worker keeps one for all the shards of its run."""
    assembler = PageAssembler(emit)
    # The walk yields keys in order: pages start while it goes on.
    entries = (
        e
        for e in walk(root, options.source, descend=spec.may_hold_under)
        if isinstance(e, FileEntry) and spec.contains(e.key) and e.key > cursor
    )

    def pages() -> Iterator[list[FileEntry]]:
        page: list[FileEntry] = []
        size = 0
        for entry in entries:
            page.append(entry)
            size += entry.size
            if len(page) >= budget.max_items or size >= budget.max_bytes:
                yield page
                page, size = [], 0
        if page:
            yield page

    def batches() -> Iterator[tuple[int, list[FileEntry]]]:
        for entries_of_page in pages():
            if halt.is_set():
                return
            page = assembler.open(entries_of_page[-1].key)
            chunks = 0
            for chunk in _split(entries_of_page, options.batch_files):
                if halt.is_set():
                    return
                if kept := gate.pass_through(chunk, page.result.skipped, already_done):
                    chunks += 1
                    yield page.number, kept
            assembler.close(page, batches=chunks)

    pool.run(
        batches(),
        partial(_tagged, work=partial(scan_file_batch, options=options.source)),
        absorb=assembler.absorb,
        on_submitted=on_submitted,
    )


class _Reports(Struct):
    """Which secrets a git shard already reported at which path, across its pages
    (only the earliest introduction counts), and what it found (for copies)."""

    commit_order: dict[str, int]
    reported: set[tuple[str, str, str]] = field(default_factory=set)
    found: list[Finding] = field(default_factory=list)

    def first(self, findings: list[Finding]) -> list[Finding]:
        fresh = []
        for finding in earliest_introductions(findings, self.commit_order):
            key = (finding.rule_id, finding.fingerprint, finding.location.path)
            if key not in self.reported:
                self.reported.add(key)
                fresh.append(finding)
        return fresh


def scan_git_shard(
    repo: Repository,
    spec: ShardSpec,
    *,
    pool: ScanPool,
    options: GitScanOptions,
    budget: PageBudget,
    already_done: AlreadyDone,
    backoff: LedgerBackoff,
    emit: Callable[[Page], None],
    halt: threading.Event,
    on_submitted: Callable[[], None] | None = None,
) -> None:
    """The shard's blobs (ids in its range) in history order, page by page; the
    cursor is the count of the shard's blob references walked. Blobs the ledger
    holds are skipped, which is how a resumed shard skips what was committed;
    `backoff` decides when the ledger is asked (a worker keeps one per run)."""
    # The walk is handed out in groups much smaller than a page, each asked about
    # in the ledger and scanned at once: waiting for a whole page of references
    # before scanning any left the workers idle while the walk went on.
    group = min(LEDGER_GROUP, budget.max_items)
    history = HistoryBatches(
        walk_history(repo, options.history),
        group,
        ignored_paths(options.content.ignore_patterns),
        None,
        [],
        keep=spec.contains,
    )
    reports = _Reports(history.commit_order)

    def deliver(page: Page) -> None:
        found = page.result.findings = reports.first(page.result.findings)
        reports.found.extend(found)
        if page.final:
            found.extend(reports.first(copied_findings(reports.found, history.copies)))
        emit(page)

    assembler = PageAssembler(deliver)

    def asked(lookups: ThreadPoolExecutor) -> Iterator[tuple[list[BlobRef], set[str]]]:
        """Each group with the ids the ledger holds; the next group's lookup runs
        while this one is scanned, so the walk never waits for the database.
        `backoff` stops asking while the ledger knows little (a first run): a
        group not asked about goes out at once. A resumed shard's committed
        groups come first and are all known."""

        def settled(
            refs: list[BlobRef], lookup: Future[set[str]]
        ) -> tuple[list[BlobRef], set[str]]:
            done = lookup.result()
            backoff.answered(asked=len(refs), known=len(done))
            return refs, done

        ahead: tuple[list[BlobRef], Future[set[str]]] | None = None
        for refs in history:
            if ahead is not None:
                yield settled(*ahead)
                ahead = None
            if backoff.should_ask():
                ahead = (refs, lookups.submit(already_done, [ref.blob_id for ref in refs]))
            else:
                yield refs, set()
        if ahead is not None:
            yield settled(*ahead)

    def batches(lookups: ThreadPoolExecutor) -> Iterator[tuple[int, list[BlobRef]]]:
        walked = 0
        page: Page | None = None
        in_page = chunks = 0
        for refs, done in asked(lookups):
            if halt.is_set():
                return
            if page is None:
                page, in_page, chunks = assembler.open(""), 0, 0
            walked += len(refs)
            in_page += len(refs)
            for chunk in _split([r for r in refs if r.blob_id not in done], options.batch_blobs):
                if halt.is_set():
                    return
                chunks += 1
                yield page.number, chunk
            if in_page + group > budget.max_items:  # the next group would not fit
                page.cursor = str(walked)
                assembler.close(page, batches=chunks)
                page = None
        if page is not None:
            page.cursor = str(walked)
            assembler.close(page, batches=chunks)
        final = assembler.open(str(walked), final=True)
        assembler.close(final, batches=0)

    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger") as lookups:
            pool.run(
                batches(lookups),
                partial(_tagged, work=partial(scan_blob_batch, repo=repo, options=options.content)),
                absorb=assembler.absorb,
                on_submitted=on_submitted,
            )
    finally:
        close_blob_readers()
