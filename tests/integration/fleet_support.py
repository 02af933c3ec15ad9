"""What the fleet tests on real servers share: the generated corpus with its
planted secrets, worker processes with their logs, and the checks on what the
fleet stored."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from support import github_token, new_git_repo, run_cli

TENANT = "5e" * 32
SECRET_KEY = "a7" * 32


def fleet_env(tmp_path: Path, *, etcd: str, namespace: str, dsn: str, ttl_s: int) -> dict[str, str]:
    """Worker settings for a test: one database for all three roles, short leases,
    a short poll, pages of 3 items (many commits), one scanning process each."""
    return {
        "LEAKMESH_CACHE_DIR": str(tmp_path / "cache"),
        "LEAKMESH_TENANT_SECRET_KEY": SECRET_KEY,
        "LEAKMESH_TENANT_ID": TENANT,
        "LEAKMESH_ETCD_ENDPOINTS": etcd,
        "LEAKMESH_ETCD_NAMESPACE": namespace,
        "LEAKMESH_FINDINGS_DSN": dsn,
        "LEAKMESH_LEDGER_DSN": dsn,
        "LEAKMESH_GIT_KV_DSN": dsn,
        "LEAKMESH_LEASE_TTL": str(ttl_s),
        "LEAKMESH_POLL_INTERVAL": "0.2",
        "LEAKMESH_MAX_ITEMS": "3",
        "LEAKMESH_COMMIT_QUEUE_CAPACITY": "4",
        "LEAKMESH_JOBS": "1",
    }


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
