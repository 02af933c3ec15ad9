"""`--store` on the command line: incremental rescans, triage, schema commands,
and no raw secret in the datastore (SQLite here; PostgreSQL: tests/integration)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import github_token, new_git_repo, run_cli

CANARY = github_token(41)
SECOND = github_token(42)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "LEAKMESH_CACHE_DIR": str(tmp_path / "cache"),
        "LEAKMESH_STORE": f"sqlite:///{tmp_path}/store.db",
    }


def scan(env: dict[str, str], *args: str) -> dict:  # type: ignore[type-arg]
    proc = run_cli("scan", *args, "--format=json", env=env)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def test_fs_rescan_skips_everything_already_scanned(tmp_path: Path, env: dict[str, str]) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.env").write_text(f"TOKEN={CANARY}\n")
    (tree / "b.py").write_text("print('hello')\n")
    first = scan(env, str(tree))
    assert first["stats"]["items_scanned"] == 2 and len(first["findings"]) == 1
    second = scan(env, str(tree))
    assert second["stats"]["items_scanned"] == 0
    assert second["stats"]["items_skipped"] == {"already_scanned": 2}
    (tree / "c.yaml").write_text(f"token: {SECOND}\n")
    third = scan(env, str(tree))
    assert third["stats"]["items_scanned"] == 1 and [f["path"] for f in third["findings"]] == [
        "c.yaml"
    ]


def test_git_rescan_walks_only_new_commits(tmp_path: Path, env: dict[str, str]) -> None:
    repo = tmp_path / "repo"
    git = new_git_repo(repo)
    (repo / "a.env").write_text(f"TOKEN={CANARY}\n")
    git("add", ".")
    git("commit", "-q", "-m", "one")
    first = scan(env, "git", str(repo))
    assert first["stats"]["commits_walked"] == 1 and len(first["findings"]) == 1
    second = scan(env, "git", str(repo))
    assert second["stats"]["commits_walked"] == 0 and second["stats"]["items_scanned"] == 0
    (repo / "b.env").write_text(f"TOKEN={SECOND}\n")
    git("add", ".")
    git("commit", "-q", "-m", "two")
    third = scan(env, "git", str(repo))
    assert third["stats"]["commits_walked"] == 1 and third["stats"]["blobs_scanned"] == 1
    assert [f["path"] for f in third["findings"]] == ["b.env"]
    # New refs at commits an earlier scan covered bring nothing new to scan.
    git("tag", "v1")
    git("branch", "older", "HEAD~1")
    fourth = scan(env, "git", str(repo))
    assert fourth["stats"]["commits_walked"] == 0 and fourth["stats"]["items_scanned"] == 0


def test_no_raw_secret_in_the_datastore(tmp_path: Path, env: dict[str, str]) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.env").write_text(f"TOKEN={CANARY}\n")
    scan(env, str(tree))
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("store.db*"))
    assert raw and CANARY.encode() not in raw
    assert CANARY[4:20].encode() not in raw


def test_triage_round_trip(tmp_path: Path, env: dict[str, str]) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.env").write_text(f"TOKEN={CANARY}\n")
    scan(env, str(tree))
    listed = json.loads(run_cli("findings", "list", "--format=json", env=env).stdout)["findings"]
    [finding] = [f for f in listed if f["rule_id"] == "github-pat-classic"]
    fp = finding["fingerprint"]
    done = run_cli(
        "findings", "triage", fp, "--status=false_positive", "--note=rotated test key", env=env
    )
    assert done.returncode == 0, done.stderr
    run_cli("findings", "triage", fp, "--status=resolved", env=env)
    shown = json.loads(run_cli("findings", "show", fp, "--format=json", env=env).stdout)
    assert shown["finding"]["status"] == "resolved"
    assert [e["status"] for e in shown["triage_history"]] == ["false_positive", "resolved"]
    assert shown["occurrences"][0]["path"] == "a.env"
    resolved = run_cli("findings", "list", "--status=resolved", "--format=json", env=env).stdout
    assert [f["fingerprint"] for f in json.loads(resolved)["findings"]] == [fp]
    missing = run_cli("findings", "triage", "0" * 32, "--status=resolved", env=env)
    assert missing.returncode == 2 and "no finding" in missing.stderr


def test_db_commands_and_fail_closed(tmp_path: Path, env: dict[str, str]) -> None:
    empty = f"sqlite:///{tmp_path}/empty.db"
    import sqlite3

    sqlite3.connect(tmp_path / "empty.db").close()
    refused = run_cli("scan", str(tmp_path), f"--store={empty}", env=env)
    assert refused.returncode == 2 and "pending" in refused.stderr
    assert run_cli("db", "validate", f"--store={empty}", env=env).returncode == 1
    assert run_cli("db", "migrate", f"--store={empty}", env=env).returncode == 0
    assert run_cli("db", "migrate", f"--store={empty}", env=env).returncode == 0
    ok = run_cli("db", "validate", f"--store={empty}", env=env)
    assert ok.returncode == 0 and "checksums match" in ok.stdout
    with sqlite3.connect(tmp_path / "empty.db") as db:
        db.execute("UPDATE leakmesh_migrations SET checksum = substr(checksum, 1, 10)")
    broken = run_cli("db", "validate", f"--store={empty}", env=env)
    assert broken.returncode == 1 and "checksum differs" in broken.stdout
    mysql_dsn = "mysql://u:CANARYPW@h/db"  # leakmesh:allow (a canary, not a credential)
    bad = run_cli("scan", str(tmp_path), f"--store={mysql_dsn}", env=env)
    assert bad.returncode == 2 and "unsupported datastore DSN" in bad.stderr
    assert "CANARYPW" not in bad.stderr


def test_report_in_every_format(tmp_path: Path, env: dict[str, str]) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.env").write_text(f"TOKEN={CANARY}\n")
    scan(env, str(tree))
    for fmt in ("text", "json", "jsonl", "sarif", "csv"):
        proc = run_cli("report", f"--format={fmt}", env=env)
        assert proc.returncode == 1, proc.stderr
        assert CANARY not in proc.stdout and "a.env" in proc.stdout, fmt
    report = json.loads(
        run_cli("report", "--format=json", "--rule=github-pat-classic", env=env).stdout
    )
    [finding] = report["findings"]
    assert (finding["path"], finding["line"], finding["preview"]) == ("a.env", 1, "ghp_********")
    empty = run_cli("report", "--status=resolved", env=env)
    assert empty.returncode == 0 and "0 findings" in empty.stdout


def test_db_copy_verifies_and_drops_the_source_only_after(
    tmp_path: Path, env: dict[str, str]
) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.env").write_text(f"TOKEN={CANARY}\n")
    scan(env, str(tree))
    source = tmp_path / "store.db"
    target = f"sqlite:///{tmp_path}/copy.db"
    copied = run_cli(
        "db", "copy", f"--from=sqlite:///{source}", f"--to={target}", "--drop-source", env=env
    )
    assert copied.returncode == 0, copied.stderr
    assert "findings" in copied.stdout and "verified" in copied.stdout
    assert not source.exists()
    listed = run_cli("findings", "list", f"--store={target}", "--format=json", env=env)
    assert any(f["rule_id"] == "github-pat-classic" for f in json.loads(listed.stdout)["findings"])
    again = run_cli("db", "copy", f"--from={target}", f"--to={target}", env=env)
    assert again.returncode == 2 and "not empty" in again.stderr
