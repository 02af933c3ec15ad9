"""The distributed worker loop on the in-memory coordinator and datastore: several
workers share a run, pages commit in order, and a worker that lost its shard has
its writes rejected. (The same loop on real etcd and PostgreSQL: the chaos test.)"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace

from leakmesh.coordination.memory import InMemoryCoordinator
from leakmesh.coordination.models import RunSpec, ShardSpec, ShardState, SourceKind
from leakmesh.engine.engine import Engine
from leakmesh.ops.retry import RetryPolicy
from leakmesh.runtime.fleet import run_worker
from leakmesh.runtime.fleet_plan import WorkerPlan, WorkerReport
from leakmesh.runtime.planning import PlanOptions, plan_fs, plan_git
from leakmesh.runtime.pool import ExecutorKind, PoolOptions, ScanPool
from leakmesh.runtime.scan_fs import LocalScanOptions, scan_fs
from leakmesh.runtime.scan_git import GitScanOptions, scan_git
from leakmesh.runtime.shard_pages import PageBudget
from leakmesh.runtime.stores import Stores
from leakmesh.sources.git import open_repository
from leakmesh.store.errors import SchemaError, StaleFence, StoreUnavailable
from leakmesh.store.memory import MemoryDatastore
from leakmesh.store.models import FindingQuery, ObservationContext, ShardFence
from support import github_token

TENANT = "ab" * 32


def tree(root: Path, files: int) -> Path:
    for i in range(files):
        folder = root / f"d{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        body = f"token = '{github_token(i)}'\n" if i % 3 == 0 else f"value = {i}\n"
        (folder / f"f{i:03d}.py").write_text(body)
    return root


QUICK_RETRY = RetryPolicy(initial_s=0.01, cap_s=0.2, jitter=0.0)
"""Delays 0.01, 0.02, 0.04, 0.08, 0.16 s, then 0.2 s."""


def sharded_tree(tmp_path: Path) -> tuple[Path, list[ShardSpec]]:
    """30 files, 10 with a token, in shards of 5 files."""
    root = tree(tmp_path / "tree", 30)
    source = LocalScanOptions().source
    return root, plan_fs(root, source=source, options=PlanOptions(files_per_shard=5))


def logged() -> tuple[list[tuple[str, dict[str, object]]], object]:
    events: list[tuple[str, dict[str, object]]] = []

    def log(event: str, **fields: object) -> None:
        events.append((event, fields))

    return events, log


def plan(engine: Engine, **changes: object) -> WorkerPlan:
    policy = engine.policy_hash(LocalScanOptions().source.policy_options())
    base = WorkerPlan(
        run_id=1,
        worker_id=1,
        tenant=TENANT,
        policy_hash=policy,
        poll_interval_s=0.05,
        budget=PageBudget(max_items=2, commit_queue_capacity=2),
        fs=LocalScanOptions(pool=PoolOptions(jobs=1)),
        git=GitScanOptions(pool=PoolOptions(jobs=1)),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def worker_pools(engine: Engine, *, started: bool) -> dict[int, ScanPool]:
    """As the worker command does when `started`: one process pool per worker,
    forked before the event loop and reused for all its shards (each process
    keeps its own git reader)."""
    options = PoolOptions(jobs=2, executor=ExecutorKind.PROCESS)
    pools = {w: ScanPool(engine=engine, options=options) for w in (1, 2)}
    if started:
        for pool in pools.values():
            pool.start()
    return pools


async def new_fs_run(
    engine: Engine, root: Path, shards: list[ShardSpec]
) -> tuple[InMemoryCoordinator, MemoryDatastore, int]:
    """A filesystem run of `shards` over `root`, in a fresh coordinator and store."""
    coordinator = InMemoryCoordinator()
    store = MemoryDatastore()
    policy = plan(engine).policy_hash
    run_id = await store.start_run(tenant=TENANT, policy_hash=policy, source="fs", target="t")
    await coordinator.create_run(
        RunSpec(run_id, TENANT, policy, SourceKind.FS, str(root), "now"), shards
    )
    return coordinator, store, run_id


async def fingerprints(store: MemoryDatastore) -> set[str]:
    return {f.fingerprint for f in await store.list_findings(FindingQuery(TENANT))}


@pytest.mark.parametrize("shared_pool", [False, True], ids=["pool-per-shard", "forked-once"])
def test_two_workers_share_a_filesystem_run_and_match_a_local_scan(
    engine: Engine, tmp_path: Path, shared_pool: bool
) -> None:
    root = tree(tmp_path / "tree", 30)
    shards = plan_fs(root, source=LocalScanOptions().source, options=PlanOptions(files_per_shard=7))
    assert len(shards) == 5
    local = scan_fs(root, engine=engine, options=LocalScanOptions(pool=PoolOptions(jobs=1)))
    pools = worker_pools(engine, started=shared_pool)

    async def scenario() -> None:
        coordinator = InMemoryCoordinator()
        store = MemoryDatastore()
        stores = Stores.one(store)
        policy = plan(engine).policy_hash
        run_id = await store.start_run(tenant=TENANT, policy_hash=policy, source="fs", target="t")
        await coordinator.create_run(
            RunSpec(run_id, TENANT, policy, SourceKind.FS, str(root), "now"), shards
        )
        events, log = logged()
        reports = await asyncio.gather(
            *(
                run_worker(
                    coordinator=coordinator,
                    stores=stores,
                    engine=engine,
                    plan=plan(engine, worker_id=w),
                    stop=asyncio.Event(),
                    log=log,  # type: ignore[arg-type]
                    scan_pool=pools[w] if shared_pool else None,
                )
                for w in (1, 2)
            )
        )
        assert sum(r.shards_scanned for r in reports) == 5
        assert sum(r.leases_seen for r in reports) == 5
        assert sum(r.stale_writes_rejected for r in reports) == 0
        assert {s.record.state for s in await coordinator.list_shards(run_id)} == {ShardState.DONE}
        assert await fingerprints(store) == {f.fingerprint for f in local.findings}
        assert len(local.findings) == 10
        assert [e for e, _ in events].count("worker.report") == 2

    try:
        asyncio.run(scenario())
    finally:
        for pool in pools.values():
            pool.close()


def test_a_worker_that_lost_its_lease_writes_nothing_more(engine: Engine, tmp_path: Path) -> None:
    root = tree(tmp_path / "tree", 12)
    shards = plan_fs(root, source=LocalScanOptions().source, options=PlanOptions())

    async def scenario() -> None:
        coordinator = InMemoryCoordinator()
        store = MemoryDatastore()
        stores = Stores.one(store)
        policy = plan(engine).policy_hash
        await store.start_run(tenant=TENANT, policy_hash=policy, source="x", target="t")
        await coordinator.create_run(
            RunSpec(1, TENANT, policy, SourceKind.FS, str(root), "now"), shards
        )
        session = await coordinator.open_session(worker_id=9, ttl_s=5)
        stale = await session.acquire(1)
        assert stale is not None
        await session.close()  # as if its lease had expired mid-shard
        _events, log = logged()
        await run_worker(
            coordinator=coordinator,
            stores=stores,
            engine=engine,
            plan=plan(engine),
            stop=asyncio.Event(),
            log=log,  # type: ignore[arg-type]
        )
        [status] = await coordinator.list_shards(1)
        assert (status.record.state, status.record.fence) == (ShardState.DONE, 2)
        with pytest.raises(StaleFence):
            await store.upsert([], ObservationContext(1, policy, ShardFence(TENANT, 1, "00000", 1)))

    asyncio.run(scenario())


@pytest.mark.parametrize("shared_pool", [False, True], ids=["inline", "forked-once"])
def test_a_git_run_split_by_blob_ranges_finds_what_a_local_scan_finds(
    engine: Engine, tmp_path: Path, shared_pool: bool
) -> None:
    repo_dir = tmp_path / "repo"
    repo_dir.mkdir()

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-C", str(repo_dir), *args],
            check=True,
            capture_output=True,
            env={
                "GIT_AUTHOR_NAME": "A",
                "GIT_AUTHOR_EMAIL": "a@example.org",
                "GIT_COMMITTER_NAME": "A",
                "GIT_COMMITTER_EMAIL": "a@example.org",
                "PATH": "/usr/bin:/bin",
                "HOME": str(tmp_path),
            },
        )

    git("init", "-q", "-b", "main")
    for i in range(12):
        (repo_dir / f"f{i % 5}.py").write_text(f"key = '{github_token(100 + i)}'\n# {i}\n")
        git("add", "-A")
        git("commit", "-q", "-m", f"c{i}")
    repository = open_repository(repo_dir)
    local = scan_git(repository, engine=engine, options=GitScanOptions(pool=PoolOptions(jobs=1)))
    shards = plan_git([str(repo_dir)], options=PlanOptions(blob_ranges=3))
    assert len(shards) == 3
    pools = worker_pools(engine, started=shared_pool)

    async def scenario() -> None:
        coordinator = InMemoryCoordinator()
        store = MemoryDatastore()
        policy = plan(engine).policy_hash
        await store.start_run(tenant=TENANT, policy_hash=policy, source="x", target="t")
        await coordinator.create_run(
            RunSpec(1, TENANT, policy, SourceKind.GIT, str(repo_dir), "now"), shards
        )
        events, log = logged()
        await asyncio.gather(
            *(
                run_worker(
                    coordinator=coordinator,
                    stores=Stores.one(store),
                    engine=engine,
                    plan=plan(engine, worker_id=w, mirror_root=tmp_path / f"mirrors{w}"),
                    stop=asyncio.Event(),
                    log=log,  # type: ignore[arg-type]
                    scan_pool=pools[w] if shared_pool else None,
                )
                for w in (1, 2)
            )
        )
        assert [e for e, _ in events].count("worker.shard_ended") == 3
        assert await fingerprints(store) == {f.fingerprint for f in local.findings}
        assert len(local.findings) == 12

    try:
        asyncio.run(scenario())
    finally:
        for pool in pools.values():
            pool.close()


def test_a_stopped_worker_releases_its_shards_and_another_finishes_the_run(
    engine: Engine, tmp_path: Path
) -> None:
    """SIGTERM sets `stop`: the shards in hand (one scanning, one committing
    behind it) are released, not lost; a second worker completes the run."""
    root, shards = sharded_tree(tmp_path)
    local = scan_fs(root, engine=engine, options=LocalScanOptions(pool=PoolOptions(jobs=1)))

    async def scenario() -> None:
        coordinator, store, run_id = await new_fs_run(engine, root, shards)
        stop = asyncio.Event()
        events, log = logged()

        def stop_at_the_second_shard(event: str, **fields: object) -> None:
            log(event, **fields)  # type: ignore[operator]
            if [e for e, _ in events].count("worker.shard_acquired") == 2:
                stop.set()

        first = await run_worker(
            coordinator=coordinator,
            stores=Stores.one(store),
            engine=engine,
            plan=plan(engine, worker_id=1),
            stop=stop,
            log=stop_at_the_second_shard,
        )
        assert first.shards_scanned < len(shards)
        outcomes = [f["outcome"] for e, f in events if e == "worker.shard_ended"]
        assert "stopped" in outcomes and len(outcomes) == first.leases_seen
        statuses = await coordinator.list_shards(run_id)
        assert all(s.owner is None for s in statuses)  # nothing left held
        second = await run_worker(
            coordinator=coordinator,
            stores=Stores.one(store),
            engine=engine,
            plan=plan(engine, worker_id=2),
            stop=asyncio.Event(),
            log=logged()[1],  # type: ignore[arg-type]
        )
        assert first.shards_scanned + second.shards_scanned == len(shards)
        assert await fingerprints(store) == {f.fingerprint for f in local.findings}

    asyncio.run(scenario())


def test_a_worker_waits_out_a_coordinator_outage_with_backoff_and_finishes(
    engine: Engine, tmp_path: Path
) -> None:
    """etcd away mid-run: the shard in hand fails at its checkpoint, the worker
    writes nothing more and retries with growing delays, then finishes the run."""
    root, shards = sharded_tree(tmp_path)
    local = scan_fs(root, engine=engine, options=LocalScanOptions(pool=PoolOptions(jobs=1)))

    async def scenario() -> None:
        coordinator, store, run_id = await new_fs_run(engine, root, shards)
        events, log = logged()
        marks_while_away = 0
        mark = store.mark

        async def counted_mark(*args: Any, **kwargs: Any) -> None:
            nonlocal marks_while_away
            marks_while_away += coordinator.unavailable
            await mark(*args, **kwargs)

        store.mark = counted_mark  # type: ignore[method-assign]

        def outage_at_the_second_shard(event: str, **fields: object) -> None:
            log(event, **fields)  # type: ignore[operator]
            acquired = [e for e, _ in events].count("worker.shard_acquired")
            if event == "worker.shard_acquired" and acquired == 2:  # once: the outage begins
                coordinator.unavailable = True
            if event == "worker.coordinator_unavailable" and fields["failures"] == 5:
                coordinator.unavailable = False

        report = await run_worker(
            coordinator=coordinator,
            stores=Stores.one(store),
            engine=engine,
            plan=plan(engine, etcd_retry=QUICK_RETRY),
            stop=asyncio.Event(),
            log=outage_at_the_second_shard,
        )
        delays = [f["retry_in_s"] for e, f in events if e == "worker.coordinator_unavailable"]
        assert delays == [0.01, 0.02, 0.04, 0.08, 0.16]
        # At most the page in flight of each shard in hand (one scanning, one
        # committing behind it) when etcd went away.
        assert marks_while_away <= 2
        assert [e for e, _ in events].count("worker.coordinator_available") == 1
        assert report.shards_scanned == len(shards)
        assert await coordinator.is_complete(run_id)
        assert await fingerprints(store) == {f.fingerprint for f in local.findings}

    asyncio.run(scenario())


class FlakyStore:
    """A datastore that raises `StoreUnavailable` from every call while `down`."""

    def __init__(self, store: MemoryDatastore) -> None:
        self._store = store
        self.down = False
        self.writes_while_down = 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                if name in ("upsert", "mark", "advance", "hold_fence", "finish_run"):
                    self.writes_while_down += 1
                raise StoreUnavailable("the test datastore is set unavailable")
            return await method(*args, **kwargs)

        return call


async def run_on_flaky_store(
    coordinator: InMemoryCoordinator, flaky: FlakyStore, engine: Engine, log: Any
) -> WorkerReport:
    return await run_worker(
        coordinator=coordinator,
        stores=Stores.one(flaky),  # type: ignore[arg-type]
        engine=engine,
        plan=plan(engine, store_retry=QUICK_RETRY),
        stop=asyncio.Event(),
        log=log,
    )


def test_a_worker_waits_out_a_database_outage_with_backoff_and_finishes(
    engine: Engine, tmp_path: Path
) -> None:
    """The database away mid-run: the shards in hand fail at their next write and
    are given back, the worker takes no shard and checks the database with growing
    delays, then finishes the run with the findings of a local scan."""
    root, shards = sharded_tree(tmp_path)
    local = scan_fs(root, engine=engine, options=LocalScanOptions(pool=PoolOptions(jobs=1)))

    async def scenario() -> None:
        coordinator, store, run_id = await new_fs_run(engine, root, shards)
        flaky = FlakyStore(store)
        events, log = logged()
        acquired_while_down = 0

        def outage_at_the_second_shard(event: str, **fields: object) -> None:
            nonlocal acquired_while_down
            log(event, **fields)  # type: ignore[operator]
            acquired = [e for e, _ in events].count("worker.shard_acquired")
            if event == "worker.shard_acquired":
                acquired_while_down += flaky.down
                if acquired == 2:  # once: the outage begins
                    flaky.down = True
            if event == "worker.store_unavailable" and fields["failures"] == 5:
                flaky.down = False

        report = await run_on_flaky_store(coordinator, flaky, engine, outage_at_the_second_shard)
        waits = [f for e, f in events if e == "worker.store_unavailable"]
        assert [f["retry_in_s"] for f in waits] == [0.01, 0.02, 0.04, 0.08, 0.16]
        assert "set unavailable" in str(waits[0]["error"])
        assert acquired_while_down == 0  # no shard taken while the database is away
        assert "failed" in [f["outcome"] for e, f in events if e == "worker.shard_ended"]
        assert [e for e, _ in events].count("worker.store_available") == 1
        assert report.shards_scanned == len(shards)
        assert await coordinator.is_complete(run_id)
        assert all(s.owner is None for s in await coordinator.list_shards(run_id))
        assert await fingerprints(store) == {f.fingerprint for f in local.findings}

    asyncio.run(scenario())


def test_a_schema_that_no_longer_passes_after_an_outage_ends_the_worker(
    engine: Engine, tmp_path: Path
) -> None:
    """Waiting cannot mend a schema: the worker stops with `SchemaError`, its
    shards given back."""
    root, shards = sharded_tree(tmp_path)

    async def scenario() -> None:
        coordinator, store, run_id = await new_fs_run(engine, root, shards)
        flaky = FlakyStore(store)
        _, log = logged()

        async def schema_gone() -> None:
            raise SchemaError("schema behind: migration 3 not applied")

        store.check = schema_gone  # type: ignore[method-assign]

        def outage_at_the_second_shard(event: str, **fields: object) -> None:
            log(event, **fields)  # type: ignore[operator]
            if event == "worker.shard_acquired":
                flaky.down = True
            if event == "worker.store_unavailable":
                flaky.down = False

        with pytest.raises(SchemaError):
            await run_on_flaky_store(coordinator, flaky, engine, outage_at_the_second_shard)
        assert all(s.owner is None for s in await coordinator.list_shards(run_id))

    asyncio.run(scenario())
