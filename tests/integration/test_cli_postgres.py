"""The CLI on a real PostgreSQL: incremental rescans, no raw secret stored, and
`db copy` from SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from support import direct_summary, github_token, run_cli

pytestmark = pytest.mark.integration

CANARY = github_token(51)


def _scan(env: dict[str, str], *args: str) -> dict:  # type: ignore[type-arg]
    proc = run_cli("scan", *args, "--format=json", env=env)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def test_scan_store_on_postgresql_is_incremental_and_holds_no_secret(
    pg_dsn: str, tmp_path: Path
) -> None:
    env = {"LEAKMESH_CACHE_DIR": str(tmp_path / "cache"), "LEAKMESH_STORE": pg_dsn}
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.env").write_text(f"TOKEN={CANARY}\n")
    first = _scan(env, str(tree))
    assert first["stats"]["items_scanned"] == 1 and len(first["findings"]) == 1
    second = _scan(env, str(tree))
    assert second["stats"]["items_skipped"] == {"already_scanned": 1}
    with psycopg.connect(pg_dsn) as conn:
        dump = "\n".join(
            str(row)
            for table in ("runs", "findings", "occurrences", "observations", "done_ledger")
            for row in conn.execute(f"SELECT * FROM {table}").fetchall()
        )
    assert "a.env" in dump and CANARY not in dump and CANARY[4:20] not in dump


def test_db_copy_sqlite_to_postgresql(pg_empty_dsn: str, tmp_path: Path) -> None:
    sqlite = f"sqlite:///{tmp_path}/local.db"
    env = {"LEAKMESH_CACHE_DIR": str(tmp_path / "cache")}
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.env").write_text(f"TOKEN={CANARY}\n")
    _scan(env | {"LEAKMESH_STORE": sqlite}, str(tree))
    listed = json.loads(
        run_cli("findings", "list", f"--store={sqlite}", "--format=json", env=env).stdout
    )
    fingerprint = listed["findings"][0]["fingerprint"]
    assert (
        run_cli(
            "findings", "triage", fingerprint, "--status=ignored", f"--store={sqlite}", env=env
        ).returncode
        == 0
    )
    copied = run_cli(
        "db", "copy", f"--from={sqlite}", f"--to={pg_empty_dsn}", "--drop-source", env=env
    )
    assert copied.returncode == 0, copied.stderr
    assert not (tmp_path / "local.db").exists()
    shown = json.loads(
        run_cli(
            "findings", "show", fingerprint, f"--store={pg_empty_dsn}", "--format=json", env=env
        ).stdout
    )
    assert shown["finding"]["status"] == "ignored" and shown["occurrences"][0]["path"] == "a.env"
    again = _scan(env | {"LEAKMESH_STORE": pg_empty_dsn}, str(tree))
    assert again["stats"]["items_skipped"] == {"already_scanned": 1}


def test_direct_worker_with_the_production_backend_persists_and_rescans(
    pg_dsn: str, tmp_path: Path
) -> None:
    """`leakmesh worker --mode=direct --backend=production`: the scan of `scan
    --store`, written to PostgreSQL; a second run skips what the ledger holds."""
    env = {
        "LEAKMESH_CACHE_DIR": str(tmp_path / "cache"),
        "LEAKMESH_FINDINGS_DSN": pg_dsn,
        "LEAKMESH_LEDGER_DSN": pg_dsn,
    }
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.env").write_text(f"TOKEN={CANARY}\n")
    args = ("worker", "--mode=direct", "--backend=production", "fs", str(tree))

    first = run_cli(*args, env=env)
    assert first.returncode == 1, first.stderr
    logged = first.stdout + first.stderr
    assert direct_summary(logged)["items_scanned"] == 1 and direct_summary(logged)["findings"] == 1
    listed = run_cli("findings", "list", f"--store={pg_dsn}", "--format=json", env=env)
    assert [f["rule_id"] for f in json.loads(listed.stdout)["findings"]] == ["github-pat-classic"]
    second = run_cli(*args, env=env)
    logged = second.stdout + second.stderr
    assert second.returncode == 0 and direct_summary(logged)["items_skipped"] == 1
    assert CANARY not in logged
