"""The done-ledger is asked about files before their scan only while that pays."""

from __future__ import annotations

from pathlib import Path

from leakmesh.runtime.pool import content_id
from leakmesh.runtime.scan_fs import LedgerGate
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


def test_a_first_scan_asks_about_one_batch_in_nine(tmp_path: Path) -> None:
    ledger = Ledger(set())
    gate = LedgerGate(ledger, FsSourceOptions())
    skipped: list[Skipped] = []
    files = entries(tmp_path, 40)
    kept = [gate.pass_through(b, skipped) for b in batches(files, 2)]
    assert sum(len(k) for k in kept) == 40 and skipped == []
    asked_at = [0, 9, 18]  # then paused for PAUSE_BATCHES batches each time
    assert LedgerGate.PAUSE_BATCHES == 8 and ledger.asked == [2] * len(asked_at)


def test_a_rescan_asks_about_every_batch_and_skips_what_is_known(tmp_path: Path) -> None:
    files = entries(tmp_path, 12)
    known = {content_id(Path(f.path).read_bytes()) for f in files[:10]}
    ledger = Ledger(known)
    gate = LedgerGate(ledger, FsSourceOptions())
    skipped: list[Skipped] = []
    kept = [gate.pass_through(b, skipped) for b in batches(files, 3)]
    assert ledger.asked == [3, 3, 3, 3]
    assert [f.key for k in kept for f in k] == ["f010.txt", "f011.txt"]
    assert {s.reason for s in skipped} == {SkipReason.ALREADY_SCANNED} and len(skipped) == 10


def test_without_a_ledger_everything_passes(tmp_path: Path) -> None:
    files = entries(tmp_path, 3)
    assert LedgerGate(None, FsSourceOptions()).pass_through(files, []) == files
