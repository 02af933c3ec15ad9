"""`scan_git`: every blob of a repository's history, once, attributed to the commit
that introduced it.

The history walk (``git log``) runs in the calling thread and hands out batches of
blob references; each worker reads contents through its own ``git cat-file``
process, classifies (binary, archives) and scans them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from typing import TYPE_CHECKING

from msgspec import Struct, field
from msgspec.structs import replace

from leakmesh.runtime.pool import (
    BatchResult,
    PoolOptions,
    merge,
    outcome,
    run_batches,
    scan_items,
    state,
    worker_scanner,
)
from leakmesh.runtime.scan_fs import AlreadyDone, Collector, FindingsCallback, ProgressCallback
from leakmesh.sources.filesystem import FsSourceOptions, classify, ignored_paths
from leakmesh.sources.git import BlobRef, CommitSeen, HistoryOptions, Repository
from leakmesh.sources.git_blobs import BlobReader
from leakmesh.sources.git_history import BlobCopy, walk_history
from leakmesh.sources.git_staged import staged_added_lines, staged_blobs
from leakmesh.sources.items import Item, Skipped, SkipReason

if TYPE_CHECKING:
    from leakmesh.engine.engine import Engine
    from leakmesh.engine.finding import CommitInfo, Finding
    from leakmesh.runtime.stats import ScanResult


class GitScanOptions(Struct, frozen=True):
    pool: PoolOptions = field(default_factory=PoolOptions)
    history: HistoryOptions = field(default_factory=HistoryOptions)
    content: FsSourceOptions = field(default_factory=FsSourceOptions)
    """Binary, archive and size policy for blob contents."""
    batch_blobs: int = 256


def _reader(repo: Repository) -> BlobReader:
    key = f"git:{repo.git_dir}"
    reader = state.resources.get(key)
    if reader is None:
        reader = state.resources[key] = BlobReader(repo.path)
    assert isinstance(reader, BlobReader)
    return reader


def _blob_id(blob_id: str, _item: Item) -> str:
    return blob_id


def scan_blob_batch(
    refs: list[BlobRef], *, repo: Repository, options: FsSourceOptions, ledger: bool = True
) -> BatchResult:
    """Scan the blobs; with `ledger`, record how each one's scan ended."""
    result = BatchResult(objects=len(refs))
    scanner = worker_scanner()
    contents = _reader(repo).read([r.blob_id for r in refs], max_bytes=options.max_file_bytes)
    for ref, content in zip(refs, contents, strict=True):
        if content.missing:
            result.skipped.append(Skipped(ref.path, SkipReason.CORRUPT_OBJECT, ref.blob_id))
            continue
        if content.data is None:
            result.skipped.append(Skipped(ref.path, SkipReason.TOO_LARGE, f"{content.size} bytes"))
            continue
        blob = BatchResult()
        items = classify(ref.path, content.data, options)
        scan_items(items, scanner, blob, object_id=partial(_blob_id, ref.blob_id))
        if ledger:
            result.outcomes[ref.blob_id] = outcome(blob)
        blob.findings = [
            replace(f, location=replace(f.location, commit=ref.commit)) for f in blob.findings
        ]
        merge(result, blob)
    return result


class HistoryBatches:
    """Batches of blob references from the walk, counting commits on the way.
    `keep` narrows the walk to some blob ids (a fleet shard's range)."""

    def __init__(
        self,
        walk: Iterable[BlobRef | BlobCopy | CommitSeen],
        size: int,
        ignored: Callable[[str], bool],
        already_done: AlreadyDone | None,
        skipped: list[Skipped],
        *,
        keep: Callable[[str], bool] = lambda _blob_id: True,
    ) -> None:
        self._walk = walk
        self._size = size
        self._ignored = ignored
        self._keep = keep
        self._already_done = already_done
        self._skipped = skipped
        self.commits = 0
        self.blobs = 0
        self.copies: dict[str, list[CommitInfo]] = {}
        self.commit_order: dict[str, int] = {}
        """Commit → its position in the walk: which introduction came first (a path
        holds one blob per commit, so the commit orders introductions at a path)."""

    def __iter__(self) -> Iterator[list[BlobRef]]:
        batch: list[BlobRef] = []
        for event in self._walk:
            if isinstance(event, CommitSeen):
                self.commit_order[event.commit] = self.commits
                self.commits += 1
                continue
            if isinstance(event, BlobCopy):
                if self._keep(event.blob_id) and not self._ignored(event.commit.path):
                    self.copies.setdefault(event.blob_id, []).append(event.commit)
                continue
            if not self._keep(event.blob_id) or self._ignored(event.path):
                continue
            batch.append(event)
            if len(batch) >= self._size:
                yield from self._ready(batch)
                batch = []
        if batch:
            yield from self._ready(batch)

    def _ready(self, batch: list[BlobRef]) -> Iterator[list[BlobRef]]:
        if self._already_done is not None:
            done = self._already_done([ref.blob_id for ref in batch])
            self._skipped.extend(
                Skipped(ref.path, SkipReason.ALREADY_SCANNED)
                for ref in batch
                if ref.blob_id in done
            )
            batch = [ref for ref in batch if ref.blob_id not in done]
        self.blobs += len(batch)
        if batch:
            yield batch


def _run(
    repo: Repository,
    batches: Iterable[list[BlobRef]],
    *,
    engine: Engine,
    options: GitScanOptions,
    collector: Collector,
    ledger: bool,
) -> None:
    try:
        run_batches(
            batches,
            partial(scan_blob_batch, repo=repo, options=options.content, ledger=ledger),
            engine=engine,
            options=options.pool,
            absorb=collector.absorb,
        )
    finally:
        close_blob_readers()


def close_blob_readers() -> None:
    """Close the blob readers the calling thread opened."""
    for resource in state.resources.values():
        if isinstance(resource, BlobReader):
            resource.close()
    state.resources.clear()


def copied_findings(findings: list[Finding], copies: dict[str, list[CommitInfo]]) -> list[Finding]:
    """A finding in a blob that was later copied to other paths is introduced
    there as well: one more finding per copy, at the copy's path and commit."""
    extra = []
    for finding in findings:
        first = finding.location.commit
        for commit in copies.get(finding.location.object_id or "", []):
            assert first is not None
            inner = finding.location.path[len(first.path) :]
            location = replace(finding.location, path=commit.path + inner, commit=commit)
            extra.append(replace(finding, location=location))
    return extra


def earliest_introductions(findings: list[Finding], commit_order: dict[str, int]) -> list[Finding]:
    """A secret stays in a file across later versions of it: report it where it was
    introduced (the earliest blob at that path holding it), not once per version."""

    def position(finding: Finding) -> int:
        commit = finding.location.commit
        assert commit is not None
        return commit_order.get(commit.commit, 0)

    first: dict[tuple[str, str, str], int] = {}
    for finding in findings:
        key = (finding.rule_id, finding.fingerprint, finding.location.path)
        first[key] = min(first.get(key, 1 << 62), position(finding))
    return [
        f for f in findings if position(f) == first[(f.rule_id, f.fingerprint, f.location.path)]
    ]


def _finish(
    collector: Collector,
    *,
    engine: Engine,
    options: GitScanOptions,
    on_findings: FindingsCallback | None,
) -> ScanResult:
    """Emit the final findings at once (both scans filter them after scanning)."""
    if on_findings is not None and collector.findings:
        on_findings(collector.findings)
    return collector.result(engine.policy_hash(options.content.policy_options()))


def scan_git(
    repo: Repository,
    *,
    engine: Engine,
    options: GitScanOptions,
    on_findings: FindingsCallback | None = None,
    on_progress: ProgressCallback | None = None,
    already_done: AlreadyDone | None = None,
) -> ScanResult:
    # Findings are emitted at the end: a later version of a file may hold a
    # secret an earlier one introduced, and only the earliest is reported.
    collector = Collector(on_findings=None, on_progress=on_progress)
    ignored = ignored_paths(options.content.ignore_patterns)
    batches = HistoryBatches(
        walk_history(repo, options.history),
        options.batch_blobs,
        ignored,
        already_done,
        collector.skipped,
    )
    _run(
        repo,
        batches,
        engine=engine,
        options=options,
        collector=collector,
        ledger=already_done is not None,
    )
    copied = copied_findings(collector.findings, batches.copies)
    collector.findings = earliest_introductions(
        [*collector.findings, *copied], batches.commit_order
    )
    collector.stats.commits_walked = batches.commits
    collector.stats.blobs_scanned = batches.blobs
    return _finish(collector, engine=engine, options=options, on_findings=on_findings)


def scan_git_since(
    repo: Repository,
    *,
    engine: Engine,
    options: GitScanOptions,
    covered: Mapping[str, str],
    on_findings: FindingsCallback | None = None,
    on_progress: ProgressCallback | None = None,
    already_done: AlreadyDone | None = None,
) -> ScanResult:
    """`scan_git` of what an earlier scan under the same policy left: the walk with
    `covered`, the ref tips it recorded (the frontier), excluded."""
    history = replace(options.history, exclude=tuple(sorted(set(covered.values()))))
    return scan_git(
        repo,
        engine=engine,
        options=replace(options, history=history),
        on_findings=on_findings,
        on_progress=on_progress,
        already_done=already_done,
    )


def scan_staged(
    repo: Repository,
    *,
    engine: Engine,
    options: GitScanOptions,
    on_findings: FindingsCallback | None = None,
    on_progress: ProgressCallback | None = None,
    already_done: AlreadyDone | None = None,
) -> ScanResult:
    """What the next commit adds: staged blobs, reporting findings on added lines only
    (a secret already committed earlier does not block every later commit)."""
    added = staged_added_lines(repo)

    def on_added_line(finding: Finding) -> bool:
        path = finding.location.path.split("!", 1)[0]
        return finding.location.line in added.get(path, ()) or "!" in finding.location.path

    collector = Collector(on_findings=None, on_progress=on_progress)
    ignored = ignored_paths(options.content.ignore_patterns)
    refs = [r for r in staged_blobs(repo) if not ignored(r.path)]
    batches = [refs[i : i + options.batch_blobs] for i in range(0, len(refs), options.batch_blobs)]
    _run(
        repo,
        batches,
        engine=engine,
        options=replace(options, pool=PoolOptions(jobs=1)),
        collector=collector,
        ledger=already_done is not None,
    )
    collector.findings = [
        replace(f, location=replace(f.location, commit=None))
        for f in collector.findings
        if on_added_line(f)
    ]
    collector.stats.blobs_scanned = len(refs)
    return _finish(collector, engine=engine, options=options, on_findings=on_findings)
