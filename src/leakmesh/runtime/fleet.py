"""`run_worker`: the distributed worker loop (SPEC §6).

A worker holds one coordinator session (a lease kept alive at TTL/3). It acquires
a shard, raises the shard's fence in every database, then scans the shard in
pages on a producer thread while this loop commits them in order — findings,
then the done-ledger, then the etcd checkpoint — each write carrying the fence.
A crash loses at most the pages not yet committed; they are scanned again and
the idempotent upserts make that harmless. When the lease is lost the shard
stops at once; a write already on its way is rejected by the fence.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path

from leakmesh.coordination.errors import CoordinatorUnavailable, LeaseLost
from leakmesh.coordination.keepalive import keep_alive
from leakmesh.coordination.models import (
    Progress,
    RunSpec,
    ShardLease,
    SourceKind,
)
from leakmesh.coordination.protocols import Coordinator, CoordinatorSession
from leakmesh.coordination.shards import run_complete
from leakmesh.engine.engine import Engine
from leakmesh.runtime.local_store import UPSERT_CHUNK, StoreTarget, occurrence_records
from leakmesh.runtime.pool import ScanPool
from leakmesh.runtime.scan_fs import LedgerBackoff, LedgerGate, LocalScanOptions
from leakmesh.runtime.scan_git import GitScanOptions
from leakmesh.runtime.shard_pages import Page, PageBudget, scan_fs_shard, scan_git_shard
from leakmesh.runtime.stores import Stores
from leakmesh.sources.git import GitError, existing_commits, open_repository, ref_tips
from leakmesh.sources.mirrors import update_mirror
from leakmesh.store.errors import StaleFence, StoreError
from leakmesh.store.models import ObservationContext, ShardFence

EventLog = Callable[..., None]
"""``log(event_name, **fields)``: the worker's structured log."""
PageCommitted = Callable[[ShardLease, Page], None]
"""Told of each page once it is committed (the worker's telemetry)."""


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    run_id: int
    worker_id: int
    tenant: str
    policy_hash: str
    lease_ttl_s: int = 10
    poll_interval_s: float = 1.0
    exit_when_done: bool = True
    budget: PageBudget = field(default_factory=PageBudget)
    fs: LocalScanOptions = field(default_factory=LocalScanOptions)
    git: GitScanOptions = field(default_factory=GitScanOptions)
    mirror_root: Path | None = None
    fs_root: Path | None = None
    """Where this worker finds a filesystem run's tree, when not at the recorded path."""


@dataclass(slots=True)
class WorkerReport:
    leases_seen: int = 0
    shards_scanned: int = 0
    pages_committed: int = 0
    items_committed: int = 0
    bytes_committed: int = 0
    findings_committed: int = 0
    stale_writes_rejected: int = 0
    leases_lost: int = 0


class _Outcome(Enum):
    COMPLETED = "completed"
    LOST = "lost"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class _End:
    """The producer's last word: done, or the error that ended it; `halted` when
    it stopped early on a halt (the shard is then not finished, even if no page
    was left to refuse)."""

    error: BaseException | None
    halted: bool = False


class _Session:
    """The coordinator session with its keepalive task; replaced when lost."""

    def __init__(self, session: CoordinatorSession) -> None:
        self.session = session
        self.lost = asyncio.Event()
        self._keeper = asyncio.create_task(keep_alive(session, lost=self.lost))

    async def close(self) -> None:
        self._keeper.cancel()
        # Already expired, or etcd away: the lease then expires on its own.
        with contextlib.suppress(LeaseLost, CoordinatorUnavailable):
            await self.session.close()


class Worker:
    def __init__(
        self,
        *,
        coordinator: Coordinator,
        stores: Stores,
        engine: Engine,
        plan: WorkerPlan,
        stop: asyncio.Event,
        log: EventLog,
        on_commit: PageCommitted | None = None,
        scan_pool: ScanPool,
    ) -> None:
        self._on_commit = on_commit
        self._scan_pool = scan_pool
        self._coordinator = coordinator
        self._stores = stores
        self._engine = engine
        self._plan = plan
        self._stop = stop
        self._log = log
        self.report = WorkerReport()
        self._finish_recorded = False
        # Shared by the shards: whether asking the ledger pays is a property of the run.
        self._fs_gate = LedgerGate(plan.fs.source)
        self._git_backoff = LedgerBackoff()

    async def run(self) -> WorkerReport:
        plan = self._plan
        run = await self._coordinator.get_run(plan.run_id)
        session = await self._open_session()
        # The shard whose last batches are handed out but whose last results and
        # pages may still be on their way: the next shard is acquired and scanned
        # meanwhile, so the scanning processes do not idle at shard boundaries.
        committing: asyncio.Task[None] | None = None
        try:
            while not self._stop.is_set():
                if session.lost.is_set():
                    await _settled(committing)
                    committing = None
                    self._lease_lost()
                    await session.close()
                    session = await self._open_session()
                try:
                    lease = await session.session.acquire(plan.run_id)
                except LeaseLost:
                    session.lost.set()
                    continue
                except CoordinatorUnavailable as exc:
                    self._log("worker.coordinator_unavailable", error=str(exc), level="warning")
                    await self._pause()
                    continue
                if lease is None:
                    if committing is not None:
                        # Its completion may end the run, or free nothing: look again.
                        await _settled(committing)
                        committing = None
                        continue
                    if await self._run_finished() and plan.exit_when_done:
                        await self._check_lease(session)
                        break
                    await self._pause()
                    continue
                self.report.leases_seen += 1
                self._log(
                    "worker.shard_acquired",
                    run_id=plan.run_id,
                    shard_id=lease.spec.shard_id,
                    fence=lease.fence,
                )
                scanned = asyncio.Event()
                shard = asyncio.create_task(self._shard(run, session, lease, scanned))
                scanned_wait = asyncio.create_task(scanned.wait())
                await asyncio.wait({shard, scanned_wait}, return_when=asyncio.FIRST_COMPLETED)
                scanned_wait.cancel()
                # At most one shard committing behind the one being scanned.
                await _settled(committing)
                committing = shard
        finally:
            await _settled(committing)
            await session.close()
        return self.report

    async def _shard(
        self, run: RunSpec, session: _Session, lease: ShardLease, scanned: asyncio.Event
    ) -> None:
        outcome = await self._work(run, session, lease, scanned)
        self._log("worker.shard_ended", shard_id=lease.spec.shard_id, outcome=outcome.value)
        if outcome is _Outcome.COMPLETED:
            self.report.shards_scanned += 1

    def _lease_lost(self) -> None:
        self.report.leases_lost += 1
        self._log("worker.lease_lost", worker_id=self._plan.worker_id, level="warning")

    async def _check_lease(self, session: _Session) -> None:
        """One renewal before leaving, so that a lease lost while this worker was
        stalled is reported even when the others finished the run meanwhile."""
        if session.lost.is_set():
            self._lease_lost()
            return
        try:
            await session.session.renew()
        except LeaseLost:
            self._lease_lost()
        except CoordinatorUnavailable:
            pass  # etcd away: nothing to learn about the lease

    async def _open_session(self) -> _Session:
        plan = self._plan
        session = await self._coordinator.open_session(
            worker_id=plan.worker_id, ttl_s=plan.lease_ttl_s
        )
        return _Session(session)

    async def _pause(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), self._plan.poll_interval_s)

    async def _run_finished(self) -> bool:
        shards = await self._coordinator.list_shards(self._plan.run_id)
        finished = run_complete(s.record for s in shards)
        if finished and not self._finish_recorded:
            await self._stores.findings.finish_run(self._plan.run_id)
            self._finish_recorded = True
        return finished

    def stale_write_rejected(self, lease: ShardLease, exc: Exception, *, during: str) -> None:
        self.report.stale_writes_rejected += 1
        self._log(
            "worker.stale_write_rejected",
            shard_id=lease.spec.shard_id,
            fence=lease.fence,
            during=during,
            by=type(exc).__name__,
            level="warning",
        )

    # -- one shard ------------------------------------------------------------------

    async def _work(
        self, run: RunSpec, session: _Session, lease: ShardLease, scanned: asyncio.Event
    ) -> _Outcome:
        plan = self._plan
        fence = ShardFence(plan.tenant, plan.run_id, lease.spec.shard_id, lease.fence)
        try:
            # Raised at once: from here on, the previous owner's writes are rejected.
            for store in self._stores.distinct():
                await store.hold_fence(fence)
        except StaleFence as exc:
            self.stale_write_rejected(lease, exc, during="hold_fence")
            return _Outcome.LOST
        shard = _ShardRun(self, run, session, lease, fence)
        return await shard.run(scanned)


async def _settled(task: asyncio.Task[None] | None) -> None:
    """Wait for a shard task to end, if any (its errors propagate)."""
    if task is not None:
        await task


class _ShardRun:
    def __init__(
        self, worker: Worker, run: RunSpec, session: _Session, lease: ShardLease, fence: ShardFence
    ) -> None:
        self.worker = worker
        self.plan = worker._plan
        self.stores = worker._stores
        self.run_spec = run
        self.session = session
        self.lease = lease
        self.fence = fence
        self.pages: queue.Queue[Page | _End] = queue.Queue(self.plan.budget.commit_queue_capacity)
        self.halt = threading.Event()
        self.progress = Progress()
        self.target = StoreTarget(
            tenant=self.plan.tenant,
            source=run.source.value,
            repo=lease.spec.location,
            policy_hash=self.plan.policy_hash,
        )
        self.tips: dict[str, str] = {}
        self.refused = False
        """A write of this shard was refused by a fence or by etcd."""

    async def run(self, scanned: asyncio.Event) -> _Outcome:
        """Scan and commit the shard; `scanned` is set once its last batch is on
        the scanning workers (or the scan ended early): the next shard may start."""
        loop = asyncio.get_running_loop()
        whole_repo = not self.lease.spec.start and not self.lease.spec.end
        frontier = (
            await self.stores.frontier.tips(self.plan.tenant, self.target.frontier_key)
            if self.run_spec.source is SourceKind.GIT and whole_repo
            else {}
        )

        def already_done(object_ids: list[str]) -> set[str]:
            future = asyncio.run_coroutine_threadsafe(
                self.stores.ledger.lookup(self.plan.tenant, self.plan.policy_hash, object_ids),
                loop,
            )
            return {oid for oid, status in future.result().items() if status.final}

        def submitted() -> None:
            loop.call_soon_threadsafe(scanned.set)

        def produce() -> None:
            try:
                self._scan(already_done, frontier, submitted)
                self.pages.put(_End(None, halted=self.halt.is_set()))
            except BaseException as exc:
                self.pages.put(_End(exc))
            finally:
                submitted()

        watcher = asyncio.create_task(self._halt_when_lost_or_stopped())
        producer = asyncio.create_task(asyncio.to_thread(produce))
        try:
            outcome, error = await self._commit_pages()
        finally:
            self.halt.set()
            watcher.cancel()
            await producer
        return await self._finish(outcome, error, whole_repo=whole_repo)

    def _scan(
        self,
        already_done: Callable[[list[str]], set[str]],
        frontier: dict[str, str],
        submitted: Callable[[], None],
    ) -> None:
        plan, spec = self.plan, self.lease.spec
        if self.run_spec.source is SourceKind.FS:
            scan_fs_shard(
                plan.fs_root or Path(spec.location),
                spec,
                cursor=self.lease.cursor,
                pool=self.worker._scan_pool,
                options=plan.fs,
                budget=plan.budget,
                already_done=already_done,
                gate=self.worker._fs_gate,
                emit=self.pages.put,
                halt=self.halt,
                on_submitted=submitted,
            )
            return
        if plan.mirror_root is not None:
            repo = update_mirror(plan.mirror_root, spec.location)
        else:
            repo = open_repository(Path(spec.location))
        self.tips = ref_tips(repo)
        history = replace(
            plan.git.history, exclude=tuple(existing_commits(repo, frontier.values()))
        )
        scan_git_shard(
            repo,
            spec,
            pool=self.worker._scan_pool,
            options=replace(plan.git, history=history),
            budget=plan.budget,
            already_done=already_done,
            backoff=self.worker._git_backoff,
            emit=self.pages.put,
            halt=self.halt,
            on_submitted=submitted,
        )

    async def _halt_when_lost_or_stopped(self) -> None:
        lost = asyncio.create_task(self.session.lost.wait())
        stop = asyncio.create_task(self.worker._stop.wait())
        try:
            await asyncio.wait({lost, stop}, return_when=asyncio.FIRST_COMPLETED)
            self.halt.set()
        finally:
            lost.cancel()
            stop.cancel()

    async def _commit_pages(self) -> tuple[_Outcome | None, BaseException | None]:
        """Commit pages in order until the producer ends; after a halt, the rest
        is drained and dropped. Returns how the shard ended (None: every page went
        in) and the producer's error, if any."""
        outcome: _Outcome | None = None
        while True:
            item = await asyncio.to_thread(self.pages.get)
            if isinstance(item, _End):
                if outcome is None and item.halted:
                    # Halted before any page was refused: stopped or lost, not done.
                    outcome = _Outcome.STOPPED if self.worker._stop.is_set() else _Outcome.LOST
                return outcome, item.error
            if outcome is not None:
                continue
            if self.worker._stop.is_set():
                outcome = _Outcome.STOPPED
            else:
                # Even when the keepalive already reported the lease lost: the
                # fence decides, and a page in hand is offered (then rejected) so
                # that a stale owner is stopped by the stores, not by its own view.
                outcome = await self._commit(item)
            if outcome is not None:
                self.halt.set()

    async def _commit(self, page: Page) -> _Outcome | None:
        plan, report = self.plan, self.worker.report
        done = page.result
        records = occurrence_records(done.findings, tenant=plan.tenant, repo=self.target.repo)
        context = ObservationContext(plan.run_id, plan.policy_hash, self.fence)
        try:
            for start in range(0, len(records), UPSERT_CHUNK):
                await self.stores.findings.upsert(records[start : start + UPSERT_CHUNK], context)
            await self.stores.ledger.mark(
                plan.tenant, plan.policy_hash, done.outcomes, fence=self.fence
            )
            self.progress = Progress(
                self.progress.items + done.objects,
                self.progress.bytes + done.bytes,
                self.progress.findings + len(done.findings),
            )
            await self.session.session.checkpoint(
                self.lease, cursor=page.cursor, progress=self.progress
            )
        except (StaleFence, LeaseLost) as exc:
            self.worker.stale_write_rejected(self.lease, exc, during="page_commit")
            self.refused = True
            return _Outcome.LOST
        except (StoreError, CoordinatorUnavailable) as exc:
            self.worker._log(
                "worker.commit_failed",
                shard_id=self.lease.spec.shard_id,
                error=str(exc),
                level="error",
            )
            return _Outcome.FAILED
        report.pages_committed += 1
        report.items_committed += done.objects
        report.bytes_committed += done.bytes
        report.findings_committed += len(records)
        if self.worker._on_commit is not None:
            self.worker._on_commit(self.lease, page)
        return None

    async def _finish(
        self, outcome: _Outcome | None, error: BaseException | None, *, whole_repo: bool
    ) -> _Outcome:
        session, lease = self.session.session, self.lease
        try:
            if outcome is None and isinstance(error, GitError):
                self.worker._log(
                    "worker.shard_parked", shard_id=lease.spec.shard_id, error=str(error)
                )
                await session.park(lease, reason=str(error))
                return _Outcome.FAILED
            if outcome is None and error is not None:
                raise error
            if outcome is None:
                if self.run_spec.source is SourceKind.GIT and whole_repo and self.tips:
                    await self.stores.frontier.advance(
                        self.plan.tenant, self.target.frontier_key, self.tips, fence=self.fence
                    )
                await session.complete(lease, progress=self.progress)
                return _Outcome.COMPLETED
            if outcome in (_Outcome.STOPPED, _Outcome.FAILED) or (
                outcome is _Outcome.LOST and not self.refused
            ):
                # A loss seen only by this worker (its keepalive) is offered back
                # too: etcd refuses it when the lease is really gone, and takes it
                # back when the lease was still there.
                await session.release(lease)
            return outcome
        except (StaleFence, LeaseLost) as exc:
            self.worker.stale_write_rejected(lease, exc, during="shard_end")
            return _Outcome.LOST
        except CoordinatorUnavailable:
            return _Outcome.FAILED


async def run_worker(
    *,
    coordinator: Coordinator,
    stores: Stores,
    engine: Engine,
    plan: WorkerPlan,
    stop: asyncio.Event,
    log: EventLog,
    on_commit: PageCommitted | None = None,
    scan_pool: ScanPool | None = None,
) -> WorkerReport:
    """Work on the run's shards until none is left (or `stop`); logs the run report.
    Shards scan on `scan_pool` when given (the caller started it before any
    connection was opened), else on one made here for all of them."""
    with contextlib.ExitStack() as owned:
        if scan_pool is None:
            scan_pool = owned.enter_context(ScanPool(engine=engine, options=plan.fs.pool))
        worker = Worker(
            coordinator=coordinator,
            stores=stores,
            engine=engine,
            plan=plan,
            stop=stop,
            log=log,
            on_commit=on_commit,
            scan_pool=scan_pool,
        )
        report = await worker.run()
    log(
        "worker.report",
        run_id=plan.run_id,
        worker_id=plan.worker_id,
        leases_seen=report.leases_seen,
        shards_scanned=report.shards_scanned,
        pages_committed=report.pages_committed,
        findings_committed=report.findings_committed,
        stale_writes_rejected=report.stale_writes_rejected,
        leases_lost=report.leases_lost,
    )
    return report
