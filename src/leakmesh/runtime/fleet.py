"""`run_worker`: the distributed worker loop (SPEC §6).

A worker holds one coordinator session (a lease kept alive at TTL/3). It acquires
a shard, raises the shard's fence in every database, and hands it to a
`fleet_shard.ShardRun`; once that shard's batches are all handed out, the next
shard is acquired while the last pages of the previous one commit. When the
lease is lost the shards in hand stop at once; a write already on its way is
rejected by the fence. When etcd or a database cannot be reached, the shards in
hand are given back and nothing more is written until it answers again (retried
with backoff).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from leakmesh.coordination.errors import CoordinatorUnavailable, LeaseLost
from leakmesh.ops.retry import Backoff
from leakmesh.runtime.fleet_plan import EventLog, PageCommitted, WorkerPlan, WorkerReport
from leakmesh.runtime.fleet_shard import FleetSession, ShardOutcome, ShardRun, WorkerContext
from leakmesh.runtime.pool import ScanPool
from leakmesh.runtime.scan_fs import LedgerBackoff, LedgerGate
from leakmesh.store.errors import StoreUnavailable
from leakmesh.store.models import ShardFence

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from leakmesh.coordination.models import RunSpec, ShardLease
    from leakmesh.coordination.protocols import Coordinator
    from leakmesh.engine.engine import Engine
    from leakmesh.runtime.stores import Stores


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
        self._coordinator = coordinator
        self._stores = stores
        self._engine = engine
        self._plan = plan
        self._stop = stop
        self._log = log
        self.report = WorkerReport()
        self._etcd_backoff = Backoff(plan.etcd_retry)
        self._store_backoff = Backoff(plan.store_retry)
        self._finish_recorded = False
        self._shards = WorkerContext(
            plan=plan,
            stores=stores,
            stop=stop,
            log=log,
            report=self.report,
            scan_pool=scan_pool,
            on_commit=on_commit,
            fs_gate=LedgerGate(plan.fs.source),
            git_backoff=LedgerBackoff(),
        )

    async def run(self) -> WorkerReport:
        plan = self._plan
        run: RunSpec | None = None
        session: FleetSession | None = None
        # The shard whose last batches are handed out but whose last results and
        # pages may still be on their way: the next shard is acquired and scanned
        # meanwhile, so the scanning processes do not idle at shard boundaries.
        committing: asyncio.Task[None] | None = None
        in_hand: set[asyncio.Task[None]] = set()
        try:
            while not self._stop.is_set():
                if self._shards.store_lost is not None:
                    # Nothing more is written until every database answers again;
                    # the shards in hand have given their leases back.
                    await _settled(committing)
                    committing = None
                    await self._wait_for_stores()
                    continue
                if session is not None and session.lost.is_set():
                    await _settled(committing)
                    committing = None
                    self._lease_lost()
                    await session.close()
                    session = None
                try:
                    # etcd away: nothing is written until these answer again.
                    run = run or await self._coordinator.get_run(plan.run_id)
                    session = session or await self._open_session()
                    await self._give_back_unreleased(session)
                    lease = await session.session.acquire(plan.run_id)
                    finished = lease is None and committing is None and await self._run_finished()
                except LeaseLost:
                    if session is not None:
                        session.lost.set()
                    continue
                except CoordinatorUnavailable as exc:
                    await self._back_off(self._etcd_backoff, "worker.coordinator_unavailable", exc)
                    continue
                except StoreUnavailable as exc:
                    self._shards.store_unavailable(exc)
                    continue
                if self._etcd_backoff.succeeded():
                    self._log("worker.coordinator_available", worker_id=plan.worker_id)
                if lease is None:
                    if committing is not None:
                        # Its completion may end the run, or free nothing: look again.
                        await _settled(committing)
                        committing = None
                        continue
                    if finished and plan.exit_when_done:
                        await self._check_lease(session)
                        break
                    await self._pause(plan.poll_interval_s)
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
                in_hand.add(shard)
                shard.add_done_callback(in_hand.discard)
                scanned_wait = asyncio.create_task(scanned.wait())
                await asyncio.wait({shard, scanned_wait}, return_when=asyncio.FIRST_COMPLETED)
                scanned_wait.cancel()
                # At most one shard committing behind the one being scanned.
                await _settled(committing)
                committing = shard
            await _settled(committing)
        except BaseException:
            # A failure (a database lost): the shards in hand halt as on SIGTERM and
            # are given back before the error goes on.
            self._stop.set()
            await asyncio.gather(*in_hand, return_exceptions=True)
            raise
        finally:
            if session is not None:
                await session.close()
        return self.report

    async def _give_back_unreleased(self, session: FleetSession) -> None:
        unreleased = self._shards.unreleased
        while unreleased:
            # LeaseLost: the lease expired meanwhile, and the shard is free already.
            with contextlib.suppress(LeaseLost):
                await session.session.release(unreleased[0])
            unreleased.pop(0)

    async def _back_off(self, backoff: Backoff, event: str, error: Exception) -> None:
        """Count a failure of `backoff`'s dependency, log `event`, wait the delay."""
        delay = backoff.failed()
        self._log(
            event,
            worker_id=self._plan.worker_id,
            error=str(error),
            failures=backoff.failures,
            retry_in_s=round(delay, 3),
            level="warning",
        )
        await self._pause(delay)

    async def _wait_for_stores(self) -> None:
        """Back off, then check every database, until all answer (or stop). A
        schema that no longer passes is not waited for: its `SchemaError` ends the
        worker, as at startup."""
        while (lost := self._shards.store_lost) is not None and not self._stop.is_set():
            await self._back_off(self._store_backoff, "worker.store_unavailable", lost)
            try:
                if await self._stopped_first(self._check_stores()):
                    return
            except StoreUnavailable as exc:
                self._shards.store_lost = exc
                continue
            self._shards.store_lost = None
            self._store_backoff.succeeded()
            self._log("worker.store_available", worker_id=self._plan.worker_id)

    async def _check_stores(self) -> None:
        for store in self._stores.distinct():
            await store.check()

    async def _stopped_first(self, work: Coroutine[None, None, None]) -> bool:
        """Run `work` unless `stop` comes first (then cancelled; True)."""
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return True
        task.result()
        return False

    async def _shard(
        self, run: RunSpec, session: FleetSession, lease: ShardLease, scanned: asyncio.Event
    ) -> None:
        outcome = await self._work(run, session, lease, scanned)
        self._log("worker.shard_ended", shard_id=lease.spec.shard_id, outcome=outcome.value)
        if outcome is ShardOutcome.COMPLETED:
            self.report.shards_scanned += 1

    def _lease_lost(self) -> None:
        self.report.leases_lost += 1
        self._log("worker.lease_lost", worker_id=self._plan.worker_id, level="warning")

    async def _check_lease(self, session: FleetSession) -> None:
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

    async def _open_session(self) -> FleetSession:
        plan = self._plan
        session = await self._coordinator.open_session(
            worker_id=plan.worker_id, ttl_s=plan.lease_ttl_s
        )
        return FleetSession(session)

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once on stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _run_finished(self) -> bool:
        finished = await self._coordinator.is_complete(self._plan.run_id)
        if finished and not self._finish_recorded:
            await self._stores.findings.finish_run(self._plan.run_id)
            self._finish_recorded = True
        return finished

    # -- one shard ------------------------------------------------------------------

    async def _work(
        self, run: RunSpec, session: FleetSession, lease: ShardLease, scanned: asyncio.Event
    ) -> ShardOutcome:
        plan = self._plan
        fence = ShardFence(plan.tenant, plan.run_id, lease.spec.shard_id, lease.fence)
        shard = ShardRun(self._shards, run, session, lease, fence)
        return await shard.run(scanned)


async def _settled(task: asyncio.Task[None] | None) -> None:
    """Wait for a shard task to end, if any (its errors propagate)."""
    if task is not None:
        await task


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
