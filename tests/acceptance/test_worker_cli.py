"""`leakmesh worker` with invalid configurations: exit 2 before anything starts, one
line on stderr naming the setting, never a secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import direct_summary, github_token, new_git_repo, run_cli

KEY_CANARY = "5ec7e75ec7e7" * 5 + "abcd"  # a valid 32-byte hex key
PASSWORD_CANARY = "PwCanary-7Qx9"

CONNECTOR_ENV = {
    "LEAKMESH_ETCD_ENDPOINTS": "127.0.0.1:2379",
    "LEAKMESH_ETCD_NAMESPACE": "leakmesh-test",
    "LEAKMESH_FINDINGS_DSN": f"postgresql://lm:{PASSWORD_CANARY}@127.0.0.1/findings",
    "LEAKMESH_LEDGER_DSN": f"postgresql://lm:{PASSWORD_CANARY}@127.0.0.1/ledger",
    "LEAKMESH_TENANT_ID": "ab" * 32,
    "LEAKMESH_RUN_ID": "1",
    "LEAKMESH_WORKER_ID": "1",
    "LEAKMESH_POLICY_HASH": "cd" * 32,
    "LEAKMESH_TENANT_SECRET_KEY": KEY_CANARY,
}


def _without(*names: str) -> dict[str, str]:
    return {k: v for k, v in CONNECTOR_ENV.items() if k not in names}


CASES = [
    pytest.param([], {}, "missing LEAKMESH_ETCD_ENDPOINTS (or --etcd-endpoints)", id="nothing"),
    pytest.param([], _without("LEAKMESH_RUN_ID"), "missing LEAKMESH_RUN_ID", id="no-run-id"),
    pytest.param(
        [],
        _without("LEAKMESH_TENANT_SECRET_KEY"),
        "missing LEAKMESH_TENANT_SECRET_KEY",
        id="no-key",
    ),
    pytest.param(
        ["git"], CONNECTOR_ENV, "missing LEAKMESH_GIT_KV_DSN (or --git-kv-dsn)", id="git-no-kv"
    ),
    pytest.param(
        [],
        {**CONNECTOR_ENV, "LEAKMESH_TENANT_SECRET_KEY": f"{KEY_CANARY}-x"},
        "invalid LEAKMESH_TENANT_SECRET_KEY",
        id="bad-key",
    ),
    pytest.param(
        [],
        {**CONNECTOR_ENV, "LEAKMESH_TENANT_SECRET_KEY": "00" * 32},
        "invalid LEAKMESH_TENANT_SECRET_KEY: must not be all zeros",
        id="zero-key",
    ),
    pytest.param(
        [f"--tenant-secret-key=zz{KEY_CANARY}"],
        CONNECTOR_ENV,
        "invalid --tenant-secret-key",
        id="bad-key-flag",
    ),
    pytest.param(
        [],
        {**CONNECTOR_ENV, "LEAKMESH_FINDINGS_DSN": f"mysql://lm:{PASSWORD_CANARY}@db/x"},
        "invalid LEAKMESH_FINDINGS_DSN",
        id="bad-dsn",
    ),
    pytest.param(
        [],
        {**CONNECTOR_ENV, "LEAKMESH_LEDGER_DSN": "sqlite:///ledger.db"},
        "invalid LEAKMESH_LEDGER_DSN: the production backend needs",
        id="sqlite-in-production",
    ),
    pytest.param(
        ["--backend=local"],
        CONNECTOR_ENV,
        "invalid --backend 'local': connector mode needs the production backend",
        id="local-backend",
    ),
    pytest.param(["--max-items=0"], CONNECTOR_ENV, "invalid --max-items '0'", id="max-items"),
    pytest.param(
        [],
        {**CONNECTOR_ENV, "LEAKMESH_MAX_BYTES": "65G"},
        "invalid LEAKMESH_MAX_BYTES '65G'",
        id="max-bytes",
    ),
    pytest.param(
        [],
        {**CONNECTOR_ENV, "LEAKMESH_EXIT_WHEN_DONE": "maybe"},
        "invalid LEAKMESH_EXIT_WHEN_DONE",
        id="boolean",
    ),
    pytest.param(
        [],
        {**CONNECTOR_ENV, "LEAKMESH_ETCD_ENDPOINTS": "etcd"},
        "invalid LEAKMESH_ETCD_ENDPOINTS",
        id="endpoint",
    ),
    pytest.param(
        ["--mode=direct", "--source=fs", "git", "."],
        {},
        "conflicting source",
        id="positional-conflict",
    ),
    pytest.param(["--mode=direct"], {}, "missing LEAKMESH_WORKER_SOURCE", id="direct-no-source"),
]


@pytest.mark.parametrize(("args", "env", "expected"), CASES)
def test_invalid_configuration_exits_2_naming_the_setting(
    args: list[str], env: dict[str, str], expected: str
) -> None:
    result = run_cli("worker", *args, env=env, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"leakmesh: error: {expected}"), lines[0]
    for output in (result.stderr, result.stdout):
        assert KEY_CANARY not in output.lower()
        assert PASSWORD_CANARY not in output


def test_help_lists_every_variable() -> None:
    result = run_cli("worker", "--help", timeout=60)
    assert result.returncode == 0
    assert "[LEAKMESH_TENANT_SECRET_KEY]" in result.stdout
    assert "[LEAKMESH_ETCD_ENDPOINTS]" in result.stdout


def test_direct_worker_with_the_local_backend_uses_an_embedded_datastore(tmp_path: Path) -> None:
    """Direct mode, local backend, a SQLite findings DSN: persisted and incremental."""
    store = f"sqlite:///{tmp_path}/worker.db"
    env = {"LEAKMESH_CACHE_DIR": str(tmp_path / "cache"), "LEAKMESH_FINDINGS_DSN": store}
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.env").write_text(f"TOKEN={github_token(61)}\n")
    args = ("worker", "--mode=direct", "fs", str(tree))

    first = run_cli(*args, env=env)
    assert first.returncode == 1, first.stderr
    assert direct_summary(first.stdout + first.stderr)["findings"] == 1
    second = run_cli(*args, env=env)
    assert second.returncode == 0, second.stderr
    assert direct_summary(second.stdout + second.stderr)["items_skipped"] == 1
    listed = run_cli("findings", "list", f"--store={store}", "--format=json", env=env)
    assert len(json.loads(listed.stdout)["findings"]) == 1


def test_direct_worker_on_git_starts_where_the_last_run_ended(tmp_path: Path) -> None:
    """With a datastore, a direct git scan records the ref tips it covered: run
    again with no new commit, it walks nothing (nothing scanned, nothing even
    skipped by the ledger); after a commit, only the new blob."""
    repo = tmp_path / "repo"
    git = new_git_repo(repo)
    (repo / "a.env").write_text(f"TOKEN={github_token(71)}\n")
    git("add", ".")
    git("commit", "-q", "-m", "one")
    store = f"sqlite:///{tmp_path}/worker.db"
    env = {"LEAKMESH_CACHE_DIR": str(tmp_path / "cache"), "LEAKMESH_FINDINGS_DSN": store}
    args = ("worker", "--mode=direct", "git", str(repo))

    first = run_cli(*args, env=env)
    assert first.returncode == 1 and direct_summary(first.stdout + first.stderr)["findings"] == 1
    proc = run_cli(*args, env=env)
    again = direct_summary(proc.stdout + proc.stderr)
    assert again["items_scanned"] == 0 and again["items_skipped"] == 0
    (repo / "b.txt").write_text("nothing here\n")
    git("add", ".")
    git("commit", "-q", "-m", "two")
    proc = run_cli(*args, env=env)
    third = direct_summary(proc.stdout + proc.stderr)
    assert third["items_scanned"] == 1 and third["items_skipped"] == 0
