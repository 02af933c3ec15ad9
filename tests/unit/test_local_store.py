"""`scan_with_store`: the frontier decides whether a history scan runs at all."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from leakmesh.runtime.local_store import StoreTarget, scan_with_store
from leakmesh.runtime.stats import ScanResult, ScanStats
from leakmesh.runtime.stores import Stores
from leakmesh.store.memory import MemoryDatastore
from leakmesh.store.models import DEFAULT_TENANT

TARGET = StoreTarget(DEFAULT_TENANT, "git", "/repo/.git", "ab" * 32)
TIPS = {"refs/heads/main": "1" * 40}


class RecordingScan:
    def __init__(self) -> None:
        self.covered: list[Mapping[str, str]] = []

    def __call__(self, already_done: object, covered: Mapping[str, str]) -> ScanResult:
        self.covered.append(dict(covered))
        stats = ScanStats(commits_walked=1, blobs_scanned=0)
        return ScanResult(findings=[], stats=stats, skipped=[], policy_hash=TARGET.policy_hash)


def rescan(store: MemoryDatastore, tips: dict[str, str]) -> tuple[ScanResult, RecordingScan]:
    scan = RecordingScan()
    result, _ = asyncio.run(scan_with_store(Stores.one(store), TARGET, scan, frontier_tips=tips))
    return result, scan


def test_tips_already_covered_start_no_scan_and_write_no_frontier() -> None:
    store = MemoryDatastore()
    _, first = rescan(store, TIPS)
    assert first.covered == [{}]

    advanced: list[Mapping[str, str]] = []
    original = store.advance

    async def spy(tenant: str, repo: str, tips: Mapping[str, str]) -> None:
        advanced.append(tips)
        await original(tenant, repo, tips)

    store.advance = spy  # type: ignore[method-assign]
    result, second = rescan(store, TIPS)
    assert second.covered == []
    assert result.stats.commits_walked == 0 and result.stats.items_scanned == 0
    assert advanced == []


def test_a_new_ref_at_a_covered_commit_is_recorded_without_a_scan() -> None:
    store = MemoryDatastore()
    rescan(store, TIPS)
    both = TIPS | {"refs/heads/copy": TIPS["refs/heads/main"]}
    _, second = rescan(store, both)
    assert second.covered == []
    assert asyncio.run(store.tips(TARGET.tenant, TARGET.frontier_key)) == both


def test_a_moved_tip_scans_from_the_recorded_frontier() -> None:
    store = MemoryDatastore()
    rescan(store, TIPS)
    moved = {"refs/heads/main": "2" * 40}
    _, second = rescan(store, moved)
    assert second.covered == [TIPS]
    assert asyncio.run(store.tips(TARGET.tenant, TARGET.frontier_key)) == moved
