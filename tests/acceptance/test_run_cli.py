"""`leakmesh run create` and a connector worker fail closed, with one line, before
touching anything: bad or missing settings exit 2, an unreachable etcd exits 3."""

from __future__ import annotations

import socket
from pathlib import Path

from support import run_cli

TENANT = "ab" * 32
KEY = "c4" * 32


def dead_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def base_env(tmp_path: Path) -> dict[str, str]:
    return {
        "LEAKMESH_CACHE_DIR": str(tmp_path / "cache"),
        "LEAKMESH_ETCD_ENDPOINTS": dead_endpoint(),
        "LEAKMESH_ETCD_NAMESPACE": "/t",
        # A canary password: the tests check that it never shows.
        "LEAKMESH_FINDINGS_DSN": "postgresql://u:CANARYPASS@127.0.0.1:1/x",  # leakmesh:allow
        "LEAKMESH_LEDGER_DSN": "postgresql://u:CANARYPASS@127.0.0.1:1/x",  # leakmesh:allow
        "LEAKMESH_TENANT_ID": TENANT,
        "LEAKMESH_TENANT_SECRET_KEY": KEY,
    }


def test_run_create_names_the_first_missing_setting(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    del env["LEAKMESH_TENANT_ID"]
    proc = run_cli("run", "create", "fs", str(tmp_path), env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "leakmesh: error: missing LEAKMESH_TENANT_ID (or --tenant-id)"
    ]


def test_run_create_refuses_credentials_in_repository_urls(tmp_path: Path) -> None:
    url = "https://bob:CANARYTOKEN@git.example.org/team/repo.git"
    proc = run_cli("run", "create", "git", url, env=base_env(tmp_path))
    assert proc.returncode == 2
    assert "credentials" in proc.stderr and "CANARYTOKEN" not in proc.stderr


def test_a_connector_worker_exits_3_when_etcd_is_unreachable(tmp_path: Path) -> None:
    env = {
        **base_env(tmp_path),
        "LEAKMESH_RUN_ID": "1",
        "LEAKMESH_WORKER_ID": "1",
        "LEAKMESH_POLICY_HASH": "ef" * 32,
    }
    proc = run_cli("worker", env=env)
    assert proc.returncode == 3, proc.stderr
    assert "not ready" in proc.stderr and "no etcd endpoint answered" in proc.stderr
    assert "CANARYPASS" not in proc.stderr and KEY not in proc.stderr
