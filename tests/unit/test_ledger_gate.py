"""The done-ledger is asked about files before their scan only while that pays."""

from __future__ import annotations

from pathlib import Path

from leakmesh.runtime.pool import content_id
from leakmesh.runtime.scan_fs import LedgerBackoff, LedgerGate
from leakmesh.sources.filesystem import FileEntry, FsSourceOptions
from leakmesh.sources.items import Skipped, SkipReason


def entries(root: Path, count: int) -> list[FileEntry]:
    found = []
    for i in range(count):
        path = root / f"f{i:03d}.txt"
        path.write_text(f"content {i}\n")
        found.append(FileEntry(key=path.name, path=str(path), size=path.stat().st_size))
    return found


class Ledger:
    def __init__(self, known: set[str]) -> None:
        self.known = known
        self.asked: list[int] = []

    def __call__(self, ids: list[str]) -> set[str]:
        self.asked.append(len(ids))
        return self.known & set(ids)


def batches(files: list[FileEntry], size: int) -> list[list[FileEntry]]:
    return [files[i : i + size] for i in range(0, len(files), size)]


def test_a_first_scan_asks_less_and_less_often(tmp_path: Path) -> None:
    ledger = Ledger(set())
    gate = LedgerGate(FsSourceOptions())
    skipped: list[Skipped] = []
    files = entries(tmp_path, 60)
    kept = [gate.pass_through(b, skipped, ledger) for b in batches(files, 2)]
    assert sum(len(k) for k in kept) == 60 and skipped == []
    # Asked at batch 0, then paused 8 batches, then 16: asked again at 9 and 26.
    assert LedgerBackoff.FIRST_PAUSE_BATCHES == 8 and ledger.asked == [2, 2, 2]


def test_a_known_batch_brings_the_short_pause_back(tmp_path: Path) -> None:
    files = entries(tmp_path, 40)
    ledger = Ledger({content_id(Path(f.path).read_bytes()) for f in files[18:20]})
    gate = LedgerGate(FsSourceOptions())
    for batch in batches(files, 2):
        gate.pass_through(batch, [], ledger)
    # Asked at 0 (miss: pause 8), 9 (known: the pause is reset), 10 (miss: pause 8,
    # not 16) and so again at 19; without the reset the last ask would not happen.
    assert len(ledger.asked) == 4


def test_one_gate_serves_the_shards_of_a_run(tmp_path: Path) -> None:
    """A worker keeps one gate: a first run stops asking across shard boundaries."""
    ledger = Ledger(set())
    gate = LedgerGate(FsSourceOptions())
    files = entries(tmp_path, 20)
    for shard in (files[:10], files[10:]):
        for batch in batches(shard, 1):
            gate.pass_through(batch, [], ledger)
    assert ledger.asked == [1, 1]  # batch 0 and 9 of twenty, not once per shard again


def test_a_rescan_asks_about_every_batch_and_skips_what_is_known(tmp_path: Path) -> None:
    files = entries(tmp_path, 12)
    known = {content_id(Path(f.path).read_bytes()) for f in files[:10]}
    ledger = Ledger(known)
    gate = LedgerGate(FsSourceOptions())
    skipped: list[Skipped] = []
    kept = [gate.pass_through(b, skipped, ledger) for b in batches(files, 3)]
    assert ledger.asked == [3, 3, 3, 3]
    assert [f.key for k in kept for f in k] == ["f010.txt", "f011.txt"]
    assert {s.reason for s in skipped} == {SkipReason.ALREADY_SCANNED} and len(skipped) == 10


def test_without_a_ledger_everything_passes(tmp_path: Path) -> None:
    files = entries(tmp_path, 3)
    assert LedgerGate(FsSourceOptions()).pass_through(files, [], None) == files
