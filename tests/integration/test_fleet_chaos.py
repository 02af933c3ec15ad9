"""The chaos test (SPEC §6): three `leakmesh worker` processes on a real etcd and
PostgreSQL scan a directory and a git history with planted secrets while a driver
`kill -9`s and restarts random workers and SIGSTOPs one holding a shard past its
lease TTL. At the end: every run is complete, its findings equal a local
`leakmesh scan` of the same input, no occurrence or observation row is
duplicated, and the paused worker's late writes were rejected (counted)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from integration.etcd_server import EtcdServer
from support import github_token, new_git_repo, run_cli

TENANT = "5e" * 32
SECRET_KEY = "a7" * 32
LEASE_TTL_S = 2
WORKERS = 3
RUN_DEADLINE_S = 150


def aws_key(seed: int) -> str:
    rng = random.Random(seed)
    return "AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))


def make_tree(root: Path) -> None:
    rng = random.Random(7)
    for i in range(1500):
        folder = root / f"pkg{i % 12}" / f"mod{i % 5}"
        folder.mkdir(parents=True, exist_ok=True)
        lines = [f"value_{j} = {rng.randint(0, 10**9)}" for j in range(30)]
        if i % 6 == 0:
            lines.insert(rng.randint(0, 29), f"GITHUB_TOKEN = '{github_token(1000 + i)}'")
        (folder / f"file{i:03d}.py").write_text("\n".join(lines) + "\n")


def make_history(repo: Path) -> None:
    git = new_git_repo(repo)
    for i in range(60):
        path = repo / f"svc{i % 7}" / "settings.py"
        path.parent.mkdir(exist_ok=True)
        secret = f"TOKEN = '{github_token(2000 + i)}'\n" if i % 4 == 0 else ""
        path.write_text(f"# revision {i}\n{secret}")
        git("add", "-A")
        git("commit", "-q", "-m", f"change {i}")
        if i == 30:
            git("checkout", "-q", "-b", "side")
            (repo / "side.env").write_text(f"AWS_ACCESS_KEY_ID={aws_key(3)}\n")
            git("add", "-A")
            git("commit", "-q", "-m", "side")
            git("checkout", "-q", "main")


@dataclass
class Fleet:
    env: dict[str, str]
    logs: Path
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    starts: int = 0

    def start(self, worker_id: int, run_id: int) -> None:
        self.starts += 1
        log = (self.logs / f"worker{worker_id}-{self.starts}.log").open("wb")
        env = {
            **self.env,
            "LEAKMESH_RUN_ID": str(run_id),
            "LEAKMESH_WORKER_ID": str(worker_id),
            "LEAKMESH_MIRROR_ROOT": str(self.logs.parent / f"mirrors{worker_id}"),
        }
        self.processes[worker_id] = subprocess.Popen(
            [sys.executable, "-m", "leakmesh", "worker"], env=env, stdout=log, stderr=log
        )
        log.close()

    def events(self, name: str) -> Iterator[dict[str, object]]:
        for path in self.logs.glob("worker*.log"):
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith("{") and f'"event":"{name}"' in line:
                    yield json.loads(line)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.kill(process.pid, signal.SIGCONT)
                process.kill()
            process.wait()


def status(env: dict[str, str], run_id: int) -> dict:  # type: ignore[type-arg]
    proc = run_cli("run", "status", str(run_id), "--format=json", env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def drive(fleet: Fleet, env: dict[str, str], run_id: int, *, kills: int, pauses: int) -> int:
    """Chaos until the run completes; returns how many SIGSTOP pauses were made."""
    rng = random.Random(run_id)
    for worker_id in range(1, WORKERS + 1):
        fleet.start(worker_id, run_id)
    deadline = time.monotonic() + RUN_DEADLINE_S
    paused = 0
    while True:
        assert time.monotonic() < deadline, f"run {run_id} did not complete: {status(env, run_id)}"
        current = status(env, run_id)
        if current["complete"]:
            break
        owners = [s["owner"] for s in current["shards"] if s["owner"] is not None]
        if paused < pauses and owners:
            victim = int(rng.choice(owners))
            process = fleet.processes[victim]
            os.kill(process.pid, signal.SIGSTOP)
            time.sleep(LEASE_TTL_S + 2.5)  # past the TTL: the lease expires, others take over
            os.kill(process.pid, signal.SIGCONT)
            paused += 1
        elif kills > 0:
            victim = rng.randint(1, WORKERS)
            fleet.processes[victim].kill()  # kill -9
            fleet.processes[victim].wait()
            fleet.start(victim, run_id)
            kills -= 1
        time.sleep(0.7)
        for worker_id, process in fleet.processes.items():
            if process.poll() is not None and not status(env, run_id)["complete"]:
                fleet.start(worker_id, run_id)  # one that exited early comes back
    for process in fleet.processes.values():
        assert process.wait(timeout=60) == 0
    return paused


def local_fingerprints(env: dict[str, str], *args: str) -> set[tuple[str, str]]:
    proc = run_cli("scan", *args, "--format=json", env=env)
    assert proc.returncode == 1, proc.stderr
    return {(f["rule_id"], f["fingerprint"]) for f in json.loads(proc.stdout)["findings"]}


def stored_fingerprints(dsn: str, repo: str) -> set[tuple[str, str]]:
    with psycopg.connect(dsn) as db:
        rows = db.execute(
            "SELECT DISTINCT f.rule_id, f.fingerprint FROM findings f JOIN occurrences o "
            "USING (tenant, fingerprint) WHERE o.repo = %s",
            (repo,),
        ).fetchall()
    return {(str(r), str(f)) for r, f in rows}


def duplicates(dsn: str) -> tuple[int, int]:
    with psycopg.connect(dsn) as db:
        occurrences = db.execute(
            "SELECT count(*) - count(DISTINCT (tenant, fingerprint, repo, object_id, start_offset,"
            " end_offset, path, commit_id)) FROM occurrences"
        ).fetchone()
        observations = db.execute(
            "SELECT count(*) - count(DISTINCT (occurrence_id, run_id, policy_hash)) FROM observations"
        ).fetchone()
    assert occurrences is not None and observations is not None
    return int(occurrences[0]), int(observations[0])


@pytest.mark.timeout(600)
def test_fleet_chaos_loses_nothing_and_rejects_stale_writes(
    pg_dsn: str, etcd_server: EtcdServer, etcd_namespace: str, tmp_path: Path
) -> None:
    tree, repo = tmp_path / "tree", tmp_path / "repo"
    tree.mkdir()
    make_tree(tree)
    make_history(repo)
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {
        "LEAKMESH_CACHE_DIR": str(tmp_path / "cache"),
        "LEAKMESH_TENANT_SECRET_KEY": SECRET_KEY,
        "LEAKMESH_TENANT_ID": TENANT,
        "LEAKMESH_ETCD_ENDPOINTS": etcd_server.endpoint,
        "LEAKMESH_ETCD_NAMESPACE": etcd_namespace,
        "LEAKMESH_FINDINGS_DSN": pg_dsn,
        "LEAKMESH_LEDGER_DSN": pg_dsn,
        "LEAKMESH_GIT_KV_DSN": pg_dsn,
        "LEAKMESH_LEASE_TTL": str(LEASE_TTL_S),
        "LEAKMESH_POLL_INTERVAL": "0.2",
        "LEAKMESH_MAX_ITEMS": "3",
        "LEAKMESH_COMMIT_QUEUE_CAPACITY": "4",
        "LEAKMESH_JOBS": "1",
    }
    # The local scans (the expected outcome) also warm the shared rule cache.
    expected_fs = local_fingerprints(env, "fs", str(tree))
    expected_git = local_fingerprints(env, "git", str(repo))
    assert len(expected_fs) == 250 and len(expected_git) == 16

    fleet = Fleet(env, logs)
    try:
        runs = {}
        for source, target, planning, pauses in (
            ("fs", tree, "--files-per-shard=50", 1),
            ("git", repo, "--blob-ranges=4", 0),
        ):
            proc = run_cli("run", "create", source, str(target), planning, "--format=json", env=env)
            assert proc.returncode == 0, proc.stderr
            created = json.loads(proc.stdout)
            runs[source] = created["run_id"]
            env_for_run = {**env, "LEAKMESH_POLICY_HASH": created["policy_hash"]}
            fleet.env = env_for_run
            assert drive(fleet, env, created["run_id"], kills=3, pauses=pauses) == pauses
    finally:
        fleet.stop_all()

    for source in ("fs", "git"):
        final = status(env, runs[source])
        assert final["complete"] and set(final["states"]) == {"done"}, final
    assert stored_fingerprints(pg_dsn, str(tree.resolve())) == expected_fs
    assert stored_fingerprints(pg_dsn, str(repo.resolve())) == expected_git
    assert duplicates(pg_dsn) == (0, 0)
    rejected = list(fleet.events("worker.stale_write_rejected"))
    lost = list(fleet.events("worker.lease_lost"))
    print(
        f"chaos: {fleet.starts} worker starts, {len(lost)} leases lost, "
        f"{len(rejected)} stale writes rejected"
    )
    # Telemetry reached the log stream, sanitized: no raw secret, path or repo.
    assert list(fleet.events("telemetry.finding")) and list(fleet.events("telemetry.summary"))
    logged = "".join(p.read_text(errors="replace") for p in logs.glob("worker*.log"))
    for canary in (github_token(1000), github_token(2000), aws_key(3), "pkg0/mod0/file000.py"):
        assert canary not in logged
    assert lost, "a SIGSTOPped worker must notice its lost lease"
    assert rejected, "the SIGSTOPped worker's late writes must have been rejected"
