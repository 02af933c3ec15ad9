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
import time
from pathlib import Path

import pytest

from integration.etcd_server import EtcdServer
from integration.fleet_support import (
    Fleet,
    aws_key,
    duplicates,
    fleet_env,
    local_fingerprints,
    make_history,
    make_tree,
    status,
    stored_fingerprints,
)
from support import github_token, run_cli

LEASE_TTL_S = 2
WORKERS = 3
RUN_DEADLINE_S = 150


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
    env = fleet_env(
        tmp_path, etcd=etcd_server.endpoint, namespace=etcd_namespace, dsn=pg_dsn, ttl_s=LEASE_TTL_S
    )
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
