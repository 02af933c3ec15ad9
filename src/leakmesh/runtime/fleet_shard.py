"""One shard of a fleet run, from its lease to its end: the shard is scanned in
pages on a producer thread while the commit loop writes them in order —
findings, then the done-ledger, then the etcd checkpoint — each write carrying
the shard's fence. A page not yet committed when the shard stops is scanned
again by the next owner; the idempotent upserts make that harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from msgspec import Struct, field
from msgspec.structs import replace

from leakmesh.coordination.errors import CoordinatorUnavailable, LeaseLost
from leakmesh.coordination.keepalive import keep_alive
from leakmesh.coordination.models import (
    Progress,
    RunSpec,
    ShardLease,
    SourceKind,
)
from leakmesh.runtime.local_store import UPSERT_CHUNK, StoreTarget, occurrence_records
from leakmesh.runtime.shard_pages import Page, scan_fs_shard, scan_git_shard
from leakmesh.sources.git import GitError, open_repository, ref_tips
from leakmesh.sources.mirrors import update_mirror
from leakmesh.store.errors import StaleFence, StoreError, StoreUnavailable
from leakmesh.store.models import ObservationContext, ShardFence

if TYPE_CHECKING:
    from leakmesh.coordination.protocols import CoordinatorSession
    from leakmesh.runtime.fleet_plan import EventLog, PageCommitted, WorkerPlan, WorkerReport
    from leakmesh.runtime.pool import ScanPool
    from leakmesh.runtime.scan_fs import LedgerBackoff, LedgerGate
    from leakmesh.runtime.stores import Stores


class ShardOutcome(Enum):
    COMPLETED = "completed"
    LOST = "lost"
    STOPPED = "stopped"
    FAILED = "failed"


class _End(Struct, frozen=True):
    """The producer's last word: done, or the error that ended it; `halted` when
    it stopped early on a halt (the shard is then not finished, even if no page
    was left to refuse)."""

    error: BaseException | None
    halted: bool = False


class FleetSession:
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


class WorkerContext(Struct):
    """What a shard needs of the worker running it."""

    plan: WorkerPlan
    stores: Stores
    stop: asyncio.Event
    log: EventLog
    report: WorkerReport
    scan_pool: ScanPool
    on_commit: PageCommitted | None
    fs_gate: LedgerGate
    """Shared by the shards: whether asking the ledger pays is a property of the run."""
    git_backoff: LedgerBackoff
    unreleased: list[ShardLease] = field(default_factory=list)
    """Shards that ended while etcd was away, still owned under this worker's
    lease: given back once etcd answers, or nobody could take them."""
    store_lost: StoreUnavailable | None = None
    """Set when a database could not be reached: the worker takes no shard until
    every database answers again."""

    def store_unavailable(self, exc: StoreUnavailable) -> None:
        if self.store_lost is None:
            self.store_lost = exc

    def stale_write_rejected(self, lease: ShardLease, exc: Exception, *, during: str) -> None:
        self.report.stale_writes_rejected += 1
        self.log(
            "worker.stale_write_rejected",
            shard_id=lease.spec.shard_id,
            fence=lease.fence,
            during=during,
            by=type(exc).__name__,
            level="warning",
        )


class ShardRun:
    def __init__(
        self,
        worker: WorkerContext,
        run: RunSpec,
        session: FleetSession,
        lease: ShardLease,
        fence: ShardFence,
    ) -> None:
        self.worker = worker
        self.plan = worker.plan
        self.stores = worker.stores
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

    async def run(self, scanned: asyncio.Event) -> ShardOutcome:
        """Scan and commit the shard; `scanned` is set once its last batch is on
        the scanning workers (or the scan ended early): the next shard may start."""
        loop = asyncio.get_running_loop()
        whole_repo = not self.lease.spec.start and not self.lease.spec.end
        try:
            # Raised at once: from here on, the previous owner's writes are rejected.
            for store in self.stores.distinct():
                await store.hold_fence(self.fence)
            frontier = (
                await self.stores.frontier.tips(self.plan.tenant, self.target.frontier_key)
                if self.run_spec.source is SourceKind.GIT and whole_repo
                else {}
            )
        except StaleFence as exc:
            self.worker.stale_write_rejected(self.lease, exc, during="hold_fence")
            return ShardOutcome.LOST
        except StoreUnavailable as exc:
            self.worker.store_unavailable(exc)
            return await self._finish(ShardOutcome.FAILED, None, whole_repo=whole_repo)

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
                pool=self.worker.scan_pool,
                options=plan.fs,
                budget=plan.budget,
                already_done=already_done,
                gate=self.worker.fs_gate,
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
        # The walk drops tips the repository no longer has (see existing_commits).
        history = replace(plan.git.history, exclude=tuple(frontier.values()))
        scan_git_shard(
            repo,
            spec,
            pool=self.worker.scan_pool,
            options=replace(plan.git, history=history),
            budget=plan.budget,
            already_done=already_done,
            backoff=self.worker.git_backoff,
            emit=self.pages.put,
            halt=self.halt,
            on_submitted=submitted,
        )

    async def _halt_when_lost_or_stopped(self) -> None:
        lost = asyncio.create_task(self.session.lost.wait())
        stop = asyncio.create_task(self.worker.stop.wait())
        try:
            await asyncio.wait({lost, stop}, return_when=asyncio.FIRST_COMPLETED)
            self.halt.set()
        finally:
            lost.cancel()
            stop.cancel()

    async def _commit_pages(self) -> tuple[ShardOutcome | None, BaseException | None]:
        """Commit pages in order until the producer ends; after a halt, the rest
        is drained and dropped. Returns how the shard ended (None: every page went
        in) and the producer's error, if any."""
        outcome: ShardOutcome | None = None
        while True:
            item = await asyncio.to_thread(self.pages.get)
            if isinstance(item, _End):
                if outcome is None and item.halted:
                    # Halted before any page was refused: stopped or lost, not done.
                    outcome = (
                        ShardOutcome.STOPPED if self.worker.stop.is_set() else ShardOutcome.LOST
                    )
                return outcome, item.error
            if outcome is not None:
                continue
            if self.worker.stop.is_set():
                outcome = ShardOutcome.STOPPED
            else:
                # Even when the keepalive already reported the lease lost: the
                # fence decides, and a page in hand is offered (then rejected) so
                # that a stale owner is stopped by the stores, not by its own view.
                outcome = await self._commit(item)
            if outcome is not None:
                self.halt.set()

    async def _commit(self, page: Page) -> ShardOutcome | None:
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
            return ShardOutcome.LOST
        except (StoreError, CoordinatorUnavailable) as exc:
            if isinstance(exc, StoreUnavailable):
                self.worker.store_unavailable(exc)
            self.worker.log(
                "worker.commit_failed",
                shard_id=self.lease.spec.shard_id,
                error=str(exc),
                level="error",
            )
            return ShardOutcome.FAILED
        report.pages_committed += 1
        report.items_committed += done.objects
        report.bytes_committed += done.bytes
        report.findings_committed += len(records)
        if self.worker.on_commit is not None:
            self.worker.on_commit(self.lease, page)
        return None

    async def _finish(
        self, outcome: ShardOutcome | None, error: BaseException | None, *, whole_repo: bool
    ) -> ShardOutcome:
        session, lease = self.session.session, self.lease
        if outcome is None and isinstance(error, StoreUnavailable):
            # A ledger lookup of the scan met the database gone.
            self.worker.store_unavailable(error)
            outcome = ShardOutcome.FAILED
        try:
            if outcome is None and isinstance(error, GitError):
                self.worker.log(
                    "worker.shard_parked", shard_id=lease.spec.shard_id, error=str(error)
                )
                await session.park(lease, reason=str(error))
                return ShardOutcome.FAILED
            if outcome is None and error is not None:
                raise error
            if outcome is None and self.run_spec.source is SourceKind.GIT and whole_repo:
                outcome = await self._advance_frontier()
            if outcome is None:
                await session.complete(lease, progress=self.progress)
                return ShardOutcome.COMPLETED
            if outcome in (ShardOutcome.STOPPED, ShardOutcome.FAILED) or (
                outcome is ShardOutcome.LOST and not self.refused
            ):
                # A loss seen only by this worker (its keepalive) is offered back
                # too: etcd refuses it when the lease is really gone, and takes it
                # back when the lease was still there.
                await session.release(lease)
            return outcome
        except (StaleFence, LeaseLost) as exc:
            self.worker.stale_write_rejected(lease, exc, during="shard_end")
            return ShardOutcome.LOST
        except CoordinatorUnavailable:
            self.worker.unreleased.append(lease)
            return ShardOutcome.FAILED

    async def _advance_frontier(self) -> ShardOutcome | None:
        """Record the tips the whole-repository shard scanned from; FAILED when the
        database is away (the shard is then given back and scanned again)."""
        if not self.tips:
            return None
        try:
            await self.stores.frontier.advance(
                self.plan.tenant, self.target.frontier_key, self.tips, fence=self.fence
            )
        except StoreUnavailable as exc:
            self.worker.store_unavailable(exc)
            return ShardOutcome.FAILED
        return None
