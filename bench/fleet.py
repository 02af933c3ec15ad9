"""Fleet benchmarks (issue 5), against a real etcd and PostgreSQL started here.

    bench/.venv/bin/python bench/fleet.py [--repeat 3] [--trials 3] [--ttls 2,10]
        [--shards 2000,200] [--only overhead,failover,acquire] [--keep] [--no-append]

1. Coordination overhead: `leakmesh run create` + one `leakmesh worker` (connector
   mode, default budgets, LEAKMESH_JOBS unset) on the tree bench/run.py scans
   (bench/work/stdlib, a copy of this Python's standard library; copied here
   without its tests when absent), against `leakmesh scan fs` of the same tree
   with the same tenant key and a warm rule cache. The ratio is the worker process
   (start to exit) over the local scan process; `run create` is reported beside
   it, and so is the worker over `leakmesh scan --store=DSN` into a fresh
   database: the same persistence (findings, done-ledger, frontier) without
   etcd, shards or pages. The same for the history repository of bench/run_git.py
   (bench/work/history/repo; skipped when absent): `scan git` against a git run,
   the worker's mirror warm. One warm-up, then the median of `--repeat`; each
   fleet run gets a fresh database (the done-ledger would otherwise skip it all)
   and a fresh etcd namespace.
2. Failover: two workers on a run of `--failover-files` small distinct files,
   planned into many shards and one-file pages (LEAKMESH_MAX_ITEMS=1) so that it
   lasts well over 15 s. This process polls etcd (`EtcdCoordinator.list_shards`)
   every 50 ms, `kill -9`s a worker once both own a shard, and times kill → the
   shard the victim held owned by the other worker under a higher fence (and kill
   → its owner key gone, the lease expiry). `--trials` per TTL in `--ttls`, the
   victim alternating between the two workers; then `--adjacent-trials` with a
   shard count at which the two workers' acquisition rotations start side by side.
3. Shard acquire latency: a run of N shards made in-process with
   `EtcdCoordinator.create_run`; one session (kept alive as a worker's is)
   acquires and completes every shard in turn; p50/p99 of `acquire` and
   `complete`, and of one `list_shards` (the run's every key: what `run status`
   reads, and what acquire read before the open-shard index), for each N in
   `--shards`.

PostgreSQL and etcd come from the Debian packages, started as the integration
tests start them (tests/integration/pg_server.py, etcd_server.py). `--keep`
keeps the worker logs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import math
import os
import platform
import random
import shutil
import signal
import stat
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import run as fsbench  # noqa: E402  the source snapshot

from integration.etcd_server import EtcdServer, start_etcd, stop_etcd  # noqa: E402
from integration.pg_server import PgServer, start_server, stop_server  # noqa: E402
from leakmesh.coordination.etcd import EtcdCoordinator  # noqa: E402
from leakmesh.coordination.keepalive import keep_alive  # noqa: E402
from leakmesh.coordination.models import (  # noqa: E402
    Progress,
    RunSpec,
    ShardSpec,
    ShardState,
    SourceKind,
)
from leakmesh.coordination.shards import acquisition_order  # noqa: E402
from leakmesh.sources.mirrors import update_mirror  # noqa: E402
from leakmesh.store.migrate import MigrationPolicy  # noqa: E402
from leakmesh.store.models import LedgerStatus, ShardFence, now  # noqa: E402
from leakmesh.store.postgres import PostgresDatastore  # noqa: E402

TENANT = "5e" * 32
SECRET_KEY = "a7" * 32
POLICY = "cd" * 32
TEMPLATE = "fleet_template"
STDLIB = ROOT / "bench" / "work" / "stdlib"
HISTORY = ROOT / "bench" / "work" / "history" / "repo"

POLL_S = 0.05
SETTLE_S = 3.0
"""Failover: both workers run at least this long before the kill."""
FAILOVER_TIMEOUT_S = 120.0
LIST_SAMPLES = 30

OVERHEAD_TARGET = 1.10
FAILOVER_SLACK_S = 1.0


def leakmesh_binary() -> str:
    for venv in (ROOT / "bench" / ".venv", ROOT / ".venv"):
        if (venv / "bin" / "leakmesh").exists():
            return str(venv / "bin" / "leakmesh")
    raise SystemExit("no leakmesh in bench/.venv or .venv: run bench/setup.sh")


LEAKMESH = leakmesh_binary()


# --------------------------------------------------------------------------- servers


@dataclass
class Servers:
    pg: PgServer
    etcd: EtcdServer
    work: Path
    leakmesh_env: dict[str, str]
    """Selects the byte-compiled source snapshot (bench/run.py), the same for every process."""

    @property
    def logs(self) -> Path:
        path = self.work / "logs"
        path.mkdir(exist_ok=True)
        return path

    def fresh_dsn(self) -> str:
        """A new database with the current schema (cloned from a migrated template)."""
        return self.pg.create_database("fleet", template=TEMPLATE)

    def env(self, dsn: str, namespace: str, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("LEAKMESH_")}
        return (
            base
            | self.leakmesh_env
            | {
                "LEAKMESH_CACHE_DIR": str(self.work / "cache"),
                "LEAKMESH_TENANT_SECRET_KEY": SECRET_KEY,
                "LEAKMESH_TENANT_ID": TENANT,
                "LEAKMESH_ETCD_ENDPOINTS": self.etcd.endpoint,
                "LEAKMESH_ETCD_NAMESPACE": namespace,
                "LEAKMESH_FINDINGS_DSN": dsn,
                "LEAKMESH_LEDGER_DSN": dsn,
                "LEAKMESH_GIT_KV_DSN": dsn,
                **extra,
            }
        )

    async def coordinator(self, namespace: str) -> EtcdCoordinator:
        return await EtcdCoordinator.connect(
            [("127.0.0.1", self.etcd.client_port)], namespace=namespace
        )


@contextlib.contextmanager
def servers(*, keep: bool = False) -> Iterator[Servers]:
    work = Path(tempfile.mkdtemp(prefix="lm-fleet-bench-"))
    pg = start_server()
    try:
        etcd = start_etcd()
        try:
            pg.create_migrated_template(TEMPLATE)
            leakmesh_env, _ = fsbench.snapshot_leakmesh(work / "leakmesh-snapshot")
            yield Servers(pg, etcd, work, leakmesh_env)
        finally:
            stop_etcd(etcd)
    finally:
        stop_server(pg)
        if keep:
            print(f"logs kept in {work / 'logs'}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def namespace() -> str:
    return f"/leakmesh-bench/{uuid.uuid4().hex[:12]}"


# --------------------------------------------------------------------------- the CLI

CRASHES: list[str] = []
"""Worker logs that ended in `BrokenProcessPool` (a forked pool process died)."""
ORPHANS: list[int] = []
"""Processes a worker left running after it was killed or stopped."""


def run_cli(args: list[str], env: dict[str, str], *, ok: tuple[int, ...] = (0,)) -> str:
    done = subprocess.run([LEAKMESH, *args], env=env, capture_output=True, check=False)
    if done.returncode not in ok:
        tail = done.stderr.decode(errors="replace").strip()[-800:]
        raise RuntimeError(f"leakmesh {' '.join(args[:3])} exited {done.returncode}: {tail}")
    return done.stdout.decode()


def create_run(
    source: str, target: Path, env: dict[str, str], *extra: str
) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    out = run_cli(["run", "create", source, str(target), "--format=json", *extra], env)
    return json.loads(out), time.perf_counter() - started


def worker_env(env: dict[str, str], created: dict[str, Any], worker_id: int) -> dict[str, str]:
    return env | {
        "LEAKMESH_RUN_ID": str(created["run_id"]),
        "LEAKMESH_POLICY_HASH": created["policy_hash"],
        "LEAKMESH_WORKER_ID": str(worker_id),
    }


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A worker in its own process group, so that what it leaves behind can be found."""
    with log.open("wb") as handle:
        return subprocess.Popen(
            [LEAKMESH, "worker"],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def group_members(pgid: int) -> list[int]:
    """Live processes of process group `pgid` (Linux /proc)."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat_file.read_text().rpartition(")")[2].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append(int(stat_file.parent.name))
    return found


def events(log: Path, name: str) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for line in log.read_text(errors="replace").splitlines()
        if line.startswith("{") and f'"event":"{name}"' in line
    ]


def stamp(event: dict[str, Any]) -> float:
    return datetime.datetime.fromisoformat(str(event["ts"])).timestamp()


def crashed(log: Path) -> bool:
    return "BrokenProcessPool" in log.read_text(errors="replace")


# --------------------------------------------------------------------------- overhead


@dataclass
class FleetRun:
    create_s: float
    worker_s: float
    findings: int
    shards: int
    pages: int
    startup_s: float
    """Process start → `worker.ready` (imports, engine, etcd and PostgreSQL checks)."""
    shards_s: float
    """First `worker.shard_acquired` → last `worker.shard_ended` (scan and commits)."""


def fleet_run(
    servers: Servers, source: str, target: Path, extra_env: dict[str, str], name: str
) -> FleetRun:
    """One fresh run (new database, new namespace) worked by one worker."""
    for attempt in range(3):
        env = servers.env(servers.fresh_dsn(), namespace(), **extra_env)
        created, create_s = create_run(source, target, env)
        log = servers.logs / f"{name}-{attempt}.log"
        wall, started = time.time(), time.perf_counter()
        code = start_worker(worker_env(env, created, 1), log).wait()
        worker_s = time.perf_counter() - started
        if code == 0:
            break
        if not crashed(log):
            raise RuntimeError(f"worker exited {code}: {log.read_text(errors='replace')[-800:]}")
        CRASHES.append(log.name)
        print(f"  {name}: the worker died of BrokenProcessPool, run again", flush=True)
    else:
        raise RuntimeError("three worker crashes in a row")
    report = events(log, "worker.report")[-1]
    return FleetRun(
        create_s,
        worker_s,
        int(report["findings_committed"]),
        int(created["shards"]),
        int(report["pages_committed"]),
        stamp(events(log, "worker.ready")[0]) - wall,
        stamp(events(log, "worker.shard_ended")[-1])
        - stamp(events(log, "worker.shard_acquired")[0]),
    )


async def _ledger_cost(dsn: str, items: int, pages: int) -> float:
    """Seconds for the done-ledger work of `items` objects in `pages` pages, as a
    worker does it: a fence held, then per page a lookup and a fenced mark."""
    store = await PostgresDatastore.open(dsn, policy=MigrationPolicy.VALIDATE)
    try:
        run_id = await store.start_run(
            tenant=TENANT, policy_hash=POLICY, source="fs", target="/ledger-cost"
        )
        fence = ShardFence(TENANT, run_id, "00000", 1)
        ids = [f"{i:040x}" for i in range(items)]
        size = math.ceil(items / max(pages, 1))
        started = time.perf_counter()
        await store.hold_fence(fence)
        for start in range(0, items, size):
            page = ids[start : start + size]
            await store.lookup(TENANT, POLICY, page)
            await store.mark(
                TENANT, POLICY, dict.fromkeys(page, LedgerStatus.SCANNED_CLEAN), fence=fence
            )
        return time.perf_counter() - started
    finally:
        await store.close()


def local_scan(
    source: str, target: Path, env: dict[str, str], *options: str
) -> tuple[float, float, int, int]:
    """Wall seconds of `leakmesh scan` (with `options`, e.g. `--store=DSN`), the
    scan's own `duration_s`, its findings and the items it scanned."""
    started = time.perf_counter()
    out = run_cli(
        ["scan", source, str(target), "--format=json", "--progress=never", *options],
        env,
        ok=(0, 1),
    )
    elapsed = time.perf_counter() - started
    report = json.loads(out)
    stats = report["stats"]
    return elapsed, float(stats["duration_s"]), len(report["findings"]), int(stats["items_scanned"])


@dataclass
class Overhead:
    name: str
    source: str
    scan_s: float
    scan_phase_s: float
    create_s: float
    worker_s: float
    startup_s: float
    shards_s: float
    scan_findings: int
    fleet_findings: int
    shards: int
    pages: int
    ratios: list[float]
    note: str = ""
    mirror_s: float = 0.0
    items: int = 0
    ledger_s: float = 0.0
    store_scan_s: float = 0.0
    """Median `leakmesh scan --store` into a fresh PostgreSQL database."""

    @property
    def ratio(self) -> float:
        return self.worker_s / self.scan_s

    @property
    def store_ratio(self) -> float:
        return self.worker_s / self.store_scan_s

    @property
    def total_ratio(self) -> float:
        return (self.create_s + self.worker_s) / self.scan_s


def overhead(
    servers: Servers, name: str, source: str, target: Path, repeat: int, extra: dict[str, str]
) -> Overhead:
    env = servers.env("unused", "unused")
    # Warm-up: the rule cache, the page cache, the worker's mirror.
    local_scan(source, target, env)
    warm = fleet_run(servers, source, target, extra, f"{source}-warm")
    # `scan --store` into a fresh database: the worker's persistence (findings,
    # done-ledger, frontier) without coordination.
    local_scan(source, target, env, f"--store={servers.fresh_dsn()}")
    scans: list[tuple[float, float, int, int]] = []
    stored: list[float] = []
    runs: list[FleetRun] = []
    for i in range(repeat):
        scans.append(local_scan(source, target, env))
        stored.append(local_scan(source, target, env, f"--store={servers.fresh_dsn()}")[0])
        runs.append(fleet_run(servers, source, target, extra, f"{source}-{i}"))
        run = runs[-1]
        print(
            f"  {name} #{i + 1}: scan {scans[-1][0]:.2f} s, scan --store {stored[-1]:.2f} s, "
            f"run create {run.create_s:.2f} s, "
            f"worker {run.worker_s:.2f} s (start-up {run.startup_s:.2f} s, shards "
            f"{run.shards_s:.2f} s; {run.shards} shards, {run.pages} pages)",
            flush=True,
        )
    note, mirror_s = "", 0.0
    if source == "git":
        # What a warm mirror costs the worker before its scan: `git remote update`.
        mirror_root = Path(extra["LEAKMESH_MIRROR_ROOT"])
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            update_mirror(mirror_root, str(target.resolve()))
            times.append(time.perf_counter() - started)
        mirror_s = statistics.median(times)
        note = (
            f"the warm-up worker, with an empty mirror (clone included), took "
            f"{warm.worker_s:.2f} s; updating the warm mirror alone takes {mirror_s:.2f} s"
        )

    ledger_s = asyncio.run(_ledger_cost(servers.fresh_dsn(), scans[-1][3], runs[-1].pages))

    def median(attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in runs)

    return Overhead(
        name,
        source,
        statistics.median(s[0] for s in scans),
        statistics.median(s[1] for s in scans),
        median("create_s"),
        median("worker_s"),
        median("startup_s"),
        median("shards_s"),
        scans[-1][2],
        runs[-1].findings,
        runs[-1].shards,
        runs[-1].pages,
        [r.worker_s / s[0] for r, s in zip(runs, scans, strict=True)],
        note,
        mirror_s,
        scans[-1][3],
        ledger_s,
        statistics.median(stored),
    )


# --------------------------------------------------------------------------- failover


class TrialVoid(RuntimeError):
    """Nothing to measure: the victim held no shard when killed."""


class WorkerCrashed(TrialVoid):
    """A worker exited on its own before the kill."""


@dataclass
class Trial:
    ttl_s: int
    shards: int
    victim: int
    apart: int
    """How far apart the two workers' rotations start, in shards (circularly)."""
    ahead: int
    """Free shards ahead of the victim's in the survivor's rotation, at the kill."""
    shard: str
    fence: int
    expired_s: float | None
    """kill → the shard's owner key gone (the victim's lease expired), as polled."""
    taken_s: float | None
    """kill → the shard owned by the other worker under a higher fence, as polled."""
    others_first: int
    """Shards the survivor acquired between the kill and taking the victim's."""
    run_s: float
    """The run's length at the two workers' pace before the kill (an estimate)."""


@dataclass
class _Seen:
    owner: int | None
    fence: int
    state: ShardState


async def _poll(coordinator: EtcdCoordinator, run_id: int) -> tuple[float, dict[str, _Seen]]:
    statuses = await coordinator.list_shards(run_id)
    seen = {s.spec.shard_id: _Seen(s.owner, s.record.fence, s.record.state) for s in statuses}
    return time.perf_counter(), seen


def _stop(workers: dict[int, subprocess.Popen[bytes]]) -> None:
    for process in workers.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in workers.values():
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        # A worker killed with -9 leaves its forked pool processes behind (they ignore
        # SIGTERM): count them, then end them with the group.
        left = group_members(process.pid)
        if left:
            ORPHANS.extend(left)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


async def failover_trial(
    servers: Servers,
    target: Path,
    *,
    ttl_s: int,
    trial: int,
    files_per_shard: int,
    options: argparse.Namespace,
) -> Trial:
    env = servers.env(
        servers.fresh_dsn(),
        namespace(),
        LEAKMESH_LEASE_TTL=str(ttl_s),
        LEAKMESH_MAX_ITEMS=str(options.failover_max_items),
    )
    if options.failover_jobs:
        env["LEAKMESH_JOBS"] = str(options.failover_jobs)
    created, _ = create_run("fs", target, env, f"--files-per-shard={files_per_shard}")
    run_id = int(created["run_id"])
    coordinator = await servers.coordinator(env["LEAKMESH_ETCD_NAMESPACE"])
    victim_id = 1 + trial % 2
    survivor_id = 3 - victim_id
    tag = f"failover-ttl{ttl_s}-{files_per_shard}-{trial}-{uuid.uuid4().hex[:6]}"
    paths = {w: servers.logs / f"{tag}-w{w}.log" for w in (1, 2)}
    workers = {w: start_worker(worker_env(env, created, w), paths[w]) for w in (1, 2)}
    started = time.perf_counter()
    first_done: tuple[float, int] | None = None
    try:
        while True:
            at, seen = await _poll(coordinator, run_id)
            exited = {w: p.returncode for w, p in workers.items() if p.poll() is not None}
            if exited:
                CRASHES.extend(paths[w].name for w in exited if crashed(paths[w]))
                raise WorkerCrashed(f"worker(s) exited before the kill: {exited}")
            done = sum(1 for s in seen.values() if s.state is ShardState.DONE)
            if first_done is None and done:
                first_done = (at, done)
            owners = {s.owner for s in seen.values()}
            if at - started >= SETTLE_S and {victim_id, survivor_id} <= owners:
                break
            await asyncio.sleep(POLL_S)
        done_before = sum(1 for s in seen.values() if s.state is ShardState.DONE)
        workers[victim_id].kill()  # kill -9
        killed, killed_wall = time.perf_counter(), time.time()
        workers[victim_id].wait()
        # The shard the victim held when it died: its owner key outlives the process
        # until the lease expires. None when the kill fell between two of its shards.
        _, seen = await _poll(coordinator, run_id)
        held = [(sid, s.fence) for sid, s in seen.items() if s.owner == victim_id]
        if not held:
            raise TrialVoid("the kill fell between two of the victim's shards")
        shard, fence = held[0]
        ids = sorted(seen)
        order = acquisition_order(ids, survivor_id)
        ahead = sum(
            1
            for sid in order[: order.index(shard)]
            if seen[sid].state is ShardState.PENDING
            or (seen[sid].state is ShardState.ACTIVE and seen[sid].owner is None)
        )
        gap = order.index(acquisition_order(ids, victim_id)[0])
        apart = min(gap, len(ids) - gap)
        expired = taken = None
        while time.perf_counter() - killed < FAILOVER_TIMEOUT_S:
            at, seen = await _poll(coordinator, run_id)
            now_seen = seen[shard]
            if expired is None and now_seen.owner != victim_id:
                expired = at - killed
            # Re-owned; or already done under the higher fence when a poll missed the owner.
            if now_seen.fence > fence and (
                now_seen.owner == survivor_id or now_seen.state is ShardState.DONE
            ):
                taken = at - killed
                break
            if workers[survivor_id].poll() is not None:
                break
            await asyncio.sleep(POLL_S)
        acquired = events(paths[survivor_id], "worker.shard_acquired")
        took = min(
            (stamp(e) for e in acquired if e["shard_id"] == shard and int(e["fence"]) > fence),
            default=math.inf,
        )
        others = sum(1 for e in acquired if killed_wall < stamp(e) < took)
        # Start-up, then every shard at the two workers' pace before the kill.
        since, done_then = first_done or (started, 0)
        pace = (done_before - done_then) / max(killed - since, 1e-9)
        run_s = (since - started) + len(ids) / pace if pace > 0 else math.inf
        return Trial(
            ttl_s, len(ids), victim_id, apart, ahead, shard, fence, expired, taken, others, run_s
        )
    finally:
        _stop(workers)
        await coordinator.close()


def failover_series(
    servers: Servers,
    target: Path,
    *,
    ttl_s: int,
    trials: int,
    files_per_shard: int,
    options: argparse.Namespace,
) -> list[Trial]:
    done: list[Trial] = []
    for i in range(trials):
        for _attempt in range(3):
            try:
                t = asyncio.run(
                    failover_trial(
                        servers,
                        target,
                        ttl_s=ttl_s,
                        trial=i,
                        files_per_shard=files_per_shard,
                        options=options,
                    )
                )
                break
            except TrialVoid as exc:
                print(f"  failover TTL {ttl_s} #{i + 1}: void ({exc}), again", flush=True)
        else:
            raise RuntimeError("three failover attempts in a row were void")
        done.append(t)
        print(
            f"  failover TTL {ttl_s}, {t.shards} shards, #{i + 1}: killed worker {t.victim} "
            f"on shard {t.shard} (fence {t.fence}); lease gone after {fmt(t.expired_s)}, "
            f"re-owned after {fmt(t.taken_s)}; the survivor took {t.others_first} other "
            f"shards first ({t.ahead} free ahead of it in its rotation at the kill; the "
            f"rotations start {t.apart} apart); "
            f"run ≈ {t.run_s:.0f} s",
            flush=True,
        )
    return done


# --------------------------------------------------------------------------- acquire


@dataclass
class Acquire:
    shards: int
    acquire_ms: list[float]
    complete_ms: list[float]
    list_ms: list[float]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def acquire_latency(servers: Servers, count: int, ttl_s: int = 10) -> Acquire:
    coordinator = await servers.coordinator(namespace())
    try:
        run = RunSpec(1, TENANT, POLICY, SourceKind.FS, "/bench", now())
        shards = [
            ShardSpec(f"{i:05d}", "/bench", f"p{i:05d}", f"p{i + 1:05d}") for i in range(count)
        ]
        await coordinator.create_run(run, shards)
        listed = []
        for _ in range(LIST_SAMPLES):
            started = time.perf_counter()
            await coordinator.list_shards(run.run_id)
            listed.append((time.perf_counter() - started) * 1000)
        session = await coordinator.open_session(worker_id=1, ttl_s=ttl_s)
        lost = asyncio.Event()
        keeper = asyncio.create_task(keep_alive(session, lost=lost))  # as a worker's
        acquired, completed = [], []
        try:
            while True:
                started = time.perf_counter()
                lease = await session.acquire(run.run_id)
                elapsed = (time.perf_counter() - started) * 1000
                if lease is None:
                    break
                acquired.append(elapsed)
                started = time.perf_counter()
                await session.complete(lease, progress=Progress(1, 1, 0))
                completed.append((time.perf_counter() - started) * 1000)
        finally:
            keeper.cancel()
            await session.close()
        if lost.is_set():
            raise RuntimeError("the session's lease was lost during the acquire loop")
        if len(acquired) != count:
            raise RuntimeError(f"acquired {len(acquired)} of {count} shards")
        return Acquire(count, acquired, completed, listed)
    finally:
        await coordinator.close()


# --------------------------------------------------------------------------- inputs


def stdlib_tree(work: Path) -> Path:
    """bench/run.py's copy of the standard library, or a fresh one without tests."""
    if (STDLIB / "os.py").exists():
        return STDLIB
    src = Path(sysconfig.get_paths()["stdlib"]).resolve()
    dst = work / "stdlib"
    for dirpath, dirnames, filenames in os.walk(src):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in ("site-packages", "__pycache__", "test", "tests", "idle_test")
            and not (here / d).is_symlink()
        )
        (dst / here.relative_to(src)).mkdir(parents=True, exist_ok=True)
        for name in sorted(filenames):
            if stat.S_ISREG(os.lstat(here / name).st_mode):
                shutil.copyfile(here / name, dst / here.relative_to(src) / name)
    return dst


def copies_tree(tree: Path, copies: int) -> Path:
    """`copies` copies of `tree`, every file of copy i ending in a line of its own,
    so that no two copies share content (the done-ledger would skip a repeat).
    Kept in bench/work between runs."""
    dst = ROOT / "bench" / "work" / f"stdlib-x{copies}"
    done = dst.with_name(dst.name + ".complete")
    if done.exists():
        return dst
    shutil.rmtree(dst, ignore_errors=True)
    for i in range(copies):
        for path in sorted(tree.rglob("*")):
            if path.is_file() and not path.is_symlink():
                target = dst / f"copy{i}" / path.relative_to(tree)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes() + f"\n# copy {i}\n".encode())
    done.write_text("")
    return dst


def large_history(commits: int) -> Path:
    """A bench/history.py repository of `commits` commits, kept in bench/work."""
    repo = ROOT / "bench" / "work" / f"history-{commits}" / "repo"
    if not (repo / "HEAD").exists():
        print(f"generating a {commits:,}-commit history in {repo}", flush=True)
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "history.py"),
                str(repo),
                "--commits",
                str(commits),
            ],
            check=True,
        )
    return repo


def failover_tree(work: Path, files: int) -> Path:
    """`files` small files of distinct content (the done-ledger would skip copies)."""
    root = work / "failover-tree"
    rng = random.Random(5)
    for i in range(files):
        folder = root / f"pkg{i % 40:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        lines = [f"value_{j} = {rng.randrange(10**12)}" for j in range(40)]
        (folder / f"mod{i:05d}.py").write_text("\n".join(lines) + "\n")
    return root


def tree_size(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def grpc_forks(logs: Path) -> int:
    """Forks gRPC saw with its threads busy (its `fork_posix` warning), in all logs."""
    return sum(
        log.read_text(errors="replace").count("skipping fork() handlers")
        for log in logs.glob("*.log")
    )


# --------------------------------------------------------------------------- report


def mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def fmt(value: float | None, unit: str = " s") -> str:
    return "—" if value is None else f"{value:.2f}{unit}"


def failover_row(label: str, ttl: int, mine: list[Trial]) -> str:
    taken = [t.taken_s for t in mine]
    worst = None if None in taken else max(x for x in taken if x is not None)
    expired = [t.expired_s for t in mine if t.expired_s is not None]
    target = ttl + FAILOVER_SLACK_S
    return (
        f"| failover, TTL {ttl} s, {label}: kill -9 → shard re-owned under a higher fence | "
        f"max {fmt(worst)} (each: {', '.join(fmt(x, '') for x in taken)}) | "
        f"≤ {target:.0f} s | {mark(worst is not None and worst <= target)} |\n"
        f"| failover, TTL {ttl} s, {label}: kill -9 → owner key gone (lease expiry) | "
        f"max {fmt(max(expired) if expired else None)} "
        f"(each: {', '.join(fmt(t.expired_s, '') for t in mine)}) | "
        f"≤ {target:.0f} s | {mark(bool(expired) and max(expired) <= target)} |"
    )


def dominates(
    overheads: list[Overhead], trials: list[Trial], adjacent: list[Trial], acquires: list[Acquire]
) -> str:
    """The closing paragraph: what the measured figures are made of."""
    parts = []
    for o in overheads:
        fixed, scan_fixed = o.worker_s - o.shards_s, o.scan_s - o.scan_phase_s
        parts.append(
            f"{o.name}: the worker spent {fixed:.2f} s outside its shards ({o.startup_s:.2f} s "
            "of it from process start to `worker.ready`: imports, engine, etcd and PostgreSQL "
            f"checks) against the local scan's {scan_fixed:.2f} s outside its scan; its "
            f"{o.shards} shard(s) took {o.shards_s:.2f} s against the local scan's "
            f"{o.scan_phase_s:.2f} s of scanning. Of that {o.shards_s - o.scan_phase_s:.2f} s, "
            f"the done-ledger work for its {o.items:,} objects (a lookup and a fenced mark per "
            f"page, {o.pages} pages), timed alone, is {o.ledger_s:.2f} s"
            + (f" and the mirror update {o.mirror_s:.2f} s" if o.source == "git" else "")
            + "; the rest is the shard pipeline itself ("
            + (
                "the history walked"
                if o.source == "git"
                else "each shard's range walked in key order, pruned to the directories "
                "that can hold it"
            )
            + ", scanning on a producer thread, pages committed in order), which the bench "
            f"does not split further. `run create` adds {o.create_s:.2f} s before all that."
        )
    if trials:
        expired = [t.expired_s for t in trials if t.expired_s is not None]
        others = [t.others_first for t in trials]
        gaps = [
            t.taken_s - t.expired_s
            for t in trials
            if t.taken_s is not None and t.expired_s is not None
        ]
        text = (
            f"Failover: the lease part is bounded by the TTL (owner key gone "
            f"{min(expired):.2f}–{max(expired):.2f} s after the kill); the survivor takes an "
            "orphaned shard (active, ownerless) before any pending one "
            "(`shards.candidates`), so the shard was re-owned at most "
            f"{max(gaps, default=0.0):.2f} s after the lease expired; the "
            f"{min(others)}–{max(others)} shards it took first were taken while the "
            "victim's lease still held."
        )
        if adjacent:
            best = [t.taken_s for t in adjacent if t.taken_s is not None]
            if best:
                text += (
                    f" With {adjacent[0].shards} shards and the two rotations "
                    f"{max(t.apart for t in adjacent)} shard(s) apart, re-ownership took "
                    f"{min(best):.2f}–{max(best):.2f} s."
                )
        parts.append(text)
    if len(acquires) >= 2:
        big, small = max(acquires, key=lambda a: a.shards), min(acquires, key=lambda a: a.shards)
        big_p50, small_p50 = percentile(big.acquire_ms, 0.5), percentile(small.acquire_ms, 0.5)
        parts.append(
            f"Acquire reads only the open-shard and owner index (`index/open/`, `index/owner/`: "
            f"one key per pending or active shard, one per owned shard), then the state and "
            f"spec of the shard it tries, then its transaction: 3 requests. The index shrinks "
            f"as shards are done, so a run's acquires get cheaper as it goes; in this loop the "
            f"open set goes from all shards to none. p50 {small_p50:.1f} ms at "
            f"{small.shards:,} shards, {big_p50:.1f} ms at {big.shards:,} "
            f"({big_p50 / small_p50:.1f}x for {big.shards / small.shards:.0f}x the shards); "
            f"one `list_shards` (every key of the run, as `run status` reads) is p50 "
            f"{percentile(big.list_ms, 0.5):.1f} ms at {big.shards:,}."
        )
    return " ".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--trials", type=int, default=3, help="failover trials per TTL")
    parser.add_argument("--ttls", default="2,10", help="lease TTLs of the failover trials")
    parser.add_argument("--failover-files", type=int, default=6000)
    parser.add_argument("--failover-files-per-shard", type=int, default=30)
    parser.add_argument("--failover-max-items", type=int, default=1)
    parser.add_argument(
        "--failover-jobs", type=int, default=1, help="LEAKMESH_JOBS of failover workers (0: unset)"
    )
    # 6000 / 50 = 120 shards: with a shard count dividing 7920 the rotations of
    # workers 1 and 2 start side by side, the best case for failover.
    parser.add_argument("--adjacent-files-per-shard", type=int, default=50)
    parser.add_argument("--adjacent-trials", type=int, default=2, help="at the smallest TTL")
    parser.add_argument("--shards", default="2000,200", help="run sizes for acquire latency")
    parser.add_argument("--only", default="overhead,failover,acquire")
    parser.add_argument(
        "--large-copies",
        type=int,
        default=8,
        help="overhead also on this many stdlib copies, each file marked per copy (0: off)",
    )
    parser.add_argument(
        "--large-commits",
        type=int,
        default=100_000,
        help="overhead also on a bench/history.py history of this many commits (0: off)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the worker logs")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    only = set(args.only.split(","))
    ttls = [int(t) for t in args.ttls.split(",") if t]
    sizes = [int(n) for n in args.shards.split(",") if n]

    began = time.perf_counter()
    overheads: list[Overhead] = []
    trials: list[Trial] = []
    adjacent: list[Trial] = []
    acquires: list[Acquire] = []
    notes: list[str] = []
    with servers(keep=args.keep) as s:
        tree = stdlib_tree(s.work)
        files, size = tree_size(tree)
        print(f"tree {tree}: {files} files, {size / 2**20:.1f} MiB", flush=True)
        if "overhead" in only:
            overheads.append(overhead(s, "fs (stdlib tree)", "fs", tree, args.repeat, {}))
            mirrors = {"LEAKMESH_MIRROR_ROOT": str(s.work / "mirrors")}
            if (HISTORY / "HEAD").exists():
                overheads.append(
                    overhead(s, "git (history repo)", "git", HISTORY, args.repeat, mirrors)
                )
            else:
                notes.append(f"git overhead skipped: no repository at {HISTORY} (bench/run_git.py)")
                print(notes[-1])
            if args.large_copies:
                large = copies_tree(tree, args.large_copies)
                _files, size_l = tree_size(large)
                name = f"fs ({args.large_copies} stdlib copies, {size_l / 2**20:.0f} MiB)"
                overheads.append(overhead(s, name, "fs", large, args.repeat, {}))
            if args.large_commits:
                big = large_history(args.large_commits)
                name = f"git ({args.large_commits:,}-commit history)"
                overheads.append(overhead(s, name, "git", big, args.repeat, mirrors))
        if "failover" in only:
            small = failover_tree(s.work, args.failover_files)
            for ttl in ttls:
                trials += failover_series(
                    s,
                    small,
                    ttl_s=ttl,
                    trials=args.trials,
                    files_per_shard=args.failover_files_per_shard,
                    options=args,
                )
            if args.adjacent_trials and ttls:
                adjacent = failover_series(
                    s,
                    small,
                    ttl_s=min(ttls),
                    trials=args.adjacent_trials,
                    files_per_shard=args.adjacent_files_per_shard,
                    options=args,
                )
        if "acquire" in only:
            for n in sizes:
                acquires.append(asyncio.run(acquire_latency(s, n)))
                a = acquires[-1]
                print(
                    f"  acquire over {n} shards: p50 {percentile(a.acquire_ms, 0.5):.1f} ms, "
                    f"p99 {percentile(a.acquire_ms, 0.99):.1f} ms",
                    flush=True,
                )
        forks = grpc_forks(s.logs)
        pg_version = s.pg.bindir.parent.name
    etcd_version = subprocess.run(
        ["etcd", "--version"], capture_output=True, text=True, check=False
    ).stdout.split("\n")[0]
    elapsed = time.perf_counter() - began

    rows = []
    for o in overheads:
        rows.append(
            f"| overhead, {o.name}: worker / local scan | {o.ratio:.2f}x (worker "
            f"{o.worker_s:.2f} s, scan {o.scan_s:.2f} s; each run "
            f"{', '.join(f'{r:.2f}x' for r in o.ratios)}) | ≤ {OVERHEAD_TARGET:.2f}x | "
            f"{mark(o.ratio <= OVERHEAD_TARGET)} |"
        )
        rows.append(
            f"| overhead, {o.name}: worker / `scan --store` (same PostgreSQL persistence, "
            f"no etcd) | {o.store_ratio:.2f}x (scan --store {o.store_scan_s:.2f} s) | — | |"
        )
        rows.append(
            f"| overhead, {o.name}: (run create + worker) / local scan | {o.total_ratio:.2f}x "
            f"(run create {o.create_s:.2f} s) | — | |"
        )
    for ttl in ttls:
        mine = [t for t in trials if t.ttl_s == ttl]
        if mine:
            rows.append(failover_row(f"{mine[0].shards} shards", ttl, mine))
    if adjacent:
        label = f"{adjacent[0].shards} shards, rotations side by side"
        rows.append(failover_row(label, adjacent[0].ttl_s, adjacent))
    for a in acquires:
        rows.append(
            f"| acquire, {a.shards:,} shards | p50 {percentile(a.acquire_ms, 0.5):.1f} ms, "
            f"p99 {percentile(a.acquire_ms, 0.99):.1f} ms (complete p50 "
            f"{percentile(a.complete_ms, 0.5):.1f} ms, p99 {percentile(a.complete_ms, 0.99):.1f} ms)"
            " | — | |"
        )

    bullets = []
    for o in overheads:
        bullets.append(
            f"{o.name}: {o.shards} shard(s), {o.pages} pages; findings: {o.fleet_findings} "
            f"committed by the worker, {o.scan_findings} reported by the local scan"
            + (f"; {o.note}" if o.note else "")
        )
    for group in (trials, adjacent):
        if group:
            lengths = [t.run_s for t in group if math.isfinite(t.run_s)]
            bullets.append(
                f"failover, {group[0].shards} shards: per trial (TTL, victim, shards the "
                "survivor took first, free shards ahead in its rotation at the kill): "
                + "; ".join(
                    f"{t.ttl_s} s, worker {t.victim}, {t.others_first}, {t.ahead}" for t in group
                )
                + (
                    f"; run length at the pre-kill pace ≈ {min(lengths):.0f}–{max(lengths):.0f} s"
                    if lengths
                    else ""
                )
            )
    if overheads or trials or adjacent:
        bullets.append(
            f"worker processes that died of BrokenProcessPool: {len(CRASHES)}; forks made "
            f"while gRPC threads were busy (grpc's fork_posix warning): {forks}; processes "
            f"left running by stopped or killed workers (then killed): {len(ORPHANS)}"
        )
    bullets += notes
    failover_setup = (
        f"two workers (LEAKMESH_MAX_ITEMS={args.failover_max_items}, "
        + (f"LEAKMESH_JOBS={args.failover_jobs}" if args.failover_jobs else "LEAKMESH_JOBS unset")
        + f", default poll interval) on {args.failover_files:,} small distinct files, "
        f"{args.failover_files_per_shard} (then {args.adjacent_files_per_shard}) files per "
        f"shard; the victim, alternately worker 1 and 2, is `kill -9`ed once both own a shard "
        f"and {SETTLE_S:.0f} s have passed; etcd polled in-process every {POLL_S * 1000:.0f} ms"
    )
    lines = [
        f"## Fleet (issue 5), {datetime.datetime.now(datetime.UTC).date()}",
        "",
        f"nproc {os.cpu_count()}, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.system()} {platform.machine()}; "
        f"{etcd_version}, PostgreSQL {pg_version} (fsync off), both on loopback.",
        "",
        "    "
        + " ".join(
            ["bench/.venv/bin/python", "bench/fleet.py"]
            + [a for a in sys.argv[1:] if a not in ("--no-append", "--keep")]
        ),
        "",
        f"Overhead: {tree.relative_to(ROOT) if tree.is_relative_to(ROOT) else tree.name} "
        f"({files} files, {size / 2**20:.1f} MiB) and {HISTORY.relative_to(ROOT)}; one "
        f"warm-up, then the median of {args.repeat}; whole processes: `leakmesh scan fs|git "
        "PATH --format=json` against `leakmesh run create fs|git PATH` then one `leakmesh "
        "worker` (connector mode, default budgets, LEAKMESH_JOBS unset), a fresh database "
        "and namespace per run; `scan --store` also into a fresh database. "
        f"Failover: {failover_setup}. Acquire: one in-process session "
        "acquiring then completing every shard of a run, sequentially.",
        "",
        "| figure | measured | target | |",
        "|---|---|---|---|",
        *rows,
        "",
        *[f"- {b}" for b in bullets],
        "",
        dominates(overheads, trials, adjacent, acquires),
        "",
        f"Whole benchmark: {elapsed:.0f} s.",
    ]
    fsbench.publish("\n".join(lines), append=not args.no_append)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
