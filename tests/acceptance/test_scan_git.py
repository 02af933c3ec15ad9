"""`leakmesh scan git` on small repositories built with git in a temp dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import github_token, run_cli

DELETED = github_token(31)
SIDE = github_token(32)
RENAMED = github_token(33)
MERGED = github_token(34)
ENV = {
    "GIT_AUTHOR_NAME": "Ann Author",
    "GIT_AUTHOR_EMAIL": "ann@example.org",
    "GIT_COMMITTER_NAME": "Ann Author",
    "GIT_COMMITTER_EMAIL": "ann@example.org",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **ENV}
    done = subprocess.run(
        ["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def commit(repo: Path, message: str, files: dict[str, str | None]) -> str:
    for name, content in files.items():
        path = repo / name
        if content is None:
            git(repo, "rm", "-q", name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    repo = tmp_path_factory.mktemp("repo")
    git(repo, "init", "-q", "-b", "main")
    commits = {}
    commits["base"] = commit(repo, "base", {"app.py": "print('hi')\n"})
    commits["deleted"] = commit(repo, "add token", {"config/dev.env": f"GITHUB_TOKEN={DELETED}\n"})
    commit(repo, "remove token", {"config/dev.env": None})
    commits["renamed"] = commit(repo, "settings", {"old/settings.py": f"TOKEN = '{RENAMED}'\n"})
    (repo / "new").mkdir()
    git(repo, "mv", "old/settings.py", "new/settings.py")
    commit(repo, "move settings", {})
    git(repo, "checkout", "-q", "-b", "side")
    commits["side"] = commit(repo, "side work", {"side.yaml": f"token: {SIDE}\n"})
    git(repo, "checkout", "-q", "main")
    commit(repo, "main work", {"app.py": "print('hello')\n"})
    git(repo, "merge", "-q", "--no-ff", "--no-commit", "side")
    (repo / "merge.txt").write_text(f"resolved = '{MERGED}'\n")
    git(repo, "add", "merge.txt")
    git(repo, "commit", "-q", "-m", "merge side")
    commits["merge"] = git(repo, "rev-parse", "HEAD")
    git(repo, "branch", "-q", "-D", "side")
    git(repo, "checkout", "-q", "-b", "feature")
    commits["feature"] = commit(repo, "feature", {"feature.txt": f"t={github_token(35)}\n"})
    git(repo, "checkout", "-q", "main")
    return repo, commits


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {"LEAKMESH_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}


def scan(target: Path, env: dict[str, str], *extra: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    proc = run_cli("scan", "git", str(target), "--format=json", *extra, env=env)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def by_secret(report: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {
        f["preview"] + f["path"]: f
        for f in report["findings"]
        if f["rule_id"] == "github-pat-classic"
    }


def test_history_findings_are_attributed_to_introducing_commits(history, cache_env) -> None:  # type: ignore[no-untyped-def]
    repo, commits = history
    code, report = scan(repo, cache_env)
    assert code == 1
    found = {
        (f["path"], f["commit"]) for f in report["findings"] if f["rule_id"] == "github-pat-classic"
    }
    assert ("config/dev.env", commits["deleted"]) in found
    assert ("old/settings.py", commits["renamed"]) in found
    assert ("side.yaml", commits["side"]) in found
    assert ("merge.txt", commits["merge"]) in found
    assert ("feature.txt", commits["feature"]) in found
    assert len(found) == 5, found
    one = next(f for f in report["findings"] if f["path"] == "config/dev.env")
    assert (one["author"], one["email"], one["line"], one["column"]) == (
        "Ann Author",
        "ann@example.org",
        1,
        14,
    )
    assert one["date"] and one["object_id"] and len(one["object_id"]) == 40
    stats = report["stats"]
    assert stats["commits_walked"] == 9 and stats["blobs_scanned"] >= 6


def test_each_blob_is_scanned_once(history, cache_env) -> None:  # type: ignore[no-untyped-def]
    repo, _ = history
    _, report = scan(repo, cache_env)
    blobs = set(git(repo, "rev-list", "--objects", "--all").split("\n"))
    unique_blobs = {
        line.split()[0]
        for line in blobs
        if len(line.split()) == 2 and git(repo, "cat-file", "-t", line.split()[0]) == "blob"
    }
    assert report["stats"]["blobs_scanned"] == len(unique_blobs)


def test_branch_since_and_max_count(history, cache_env) -> None:  # type: ignore[no-untyped-def]
    repo, commits = history
    _, main_only = scan(repo, cache_env, "--branch=main")
    assert "feature.txt" not in {f["path"] for f in main_only["findings"]}
    _, recent = scan(repo, cache_env, f"--since={commits['renamed']}")
    paths = {f["path"] for f in recent["findings"]}
    assert "config/dev.env" not in paths and "side.yaml" in paths
    _, first_two = scan(repo, cache_env, "--branch=main", "--max-count=2")
    assert first_two["stats"]["commits_walked"] == 2


def test_bare_mirror(history, cache_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo, commits = history
    mirror = tmp_path / "mirror.git"
    subprocess.run(["git", "clone", "-q", "--mirror", str(repo), str(mirror)], check=True)
    code, report = scan(mirror, cache_env)
    assert code == 1
    assert {f["commit"] for f in report["findings"]} >= {commits["deleted"], commits["side"]}


def test_not_a_repository_and_bad_revision_exit_2(history, cache_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo, _ = history
    proc = run_cli("scan", "git", str(tmp_path), env=cache_env)
    assert proc.returncode == 2 and "not a git repository" in proc.stderr
    proc = run_cli("scan", "git", str(repo), "--branch=nope", env=cache_env)
    assert proc.returncode == 2 and "unknown revision" in proc.stderr
    proc = run_cli("scan", "fs", str(repo), "--branch=main", env=cache_env)
    assert proc.returncode == 2 and "apply to scan git" in proc.stderr


def test_corrupt_object_is_skipped_and_the_scan_goes_on(cache_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "two files", {"a.txt": f"{DELETED}\n", "b.txt": "harmless\n"})
    blob = git(repo, "rev-parse", "HEAD:b.txt")
    (repo / ".git" / "objects" / blob[:2] / blob[2:]).unlink()
    code, report = scan(repo, cache_env)
    assert code == 1 and report["stats"]["items_skipped"] == {"corrupt_object": 1}


def test_every_format_carries_commit_fields(history, cache_env) -> None:  # type: ignore[no-untyped-def]
    repo, commits = history
    sarif = json.loads(run_cli("scan", "git", str(repo), "--format=sarif", env=cache_env).stdout)
    run = sarif["runs"][0]
    assert run["versionControlProvenance"][0]["repositoryUri"].startswith("file://")
    assert any(r["properties"]["commit"] == commits["side"] for r in run["results"])
    assert all("partialFingerprints" in r for r in run["results"])
    csv_out = run_cli("scan", "git", str(repo), "--format=csv", env=cache_env).stdout
    assert commits["side"] in csv_out and "ann@example.org" in csv_out
    text = run_cli("scan", "git", str(repo), env=cache_env).stdout
    assert commits["side"][:12] in text and "Ann Author" in text
    line = json.loads(
        run_cli("scan", "git", str(repo), "--format=jsonl", env=cache_env).stdout.splitlines()[0]
    )
    assert line["commit"] and line["author"]


def test_summary_counts_commits_and_blobs(history, cache_env) -> None:  # type: ignore[no-untyped-def]
    repo, _ = history
    proc = run_cli("scan", "git", str(repo), "--format=json", env=cache_env)
    assert "commits_walked=9" in proc.stderr and "blobs_scanned=" in proc.stderr


def test_pre_commit_hook_refuses_a_secret_and_allows_leakmesh_allow(
    cache_env, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    repo = tmp_path / "hooked"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "old secret stays", {"legacy.txt": f"{DELETED}\n"})
    hook = repo / ".git" / "hooks" / "pre-commit"
    env_lines = "".join(f"export {k}='{v}'\n" for k, v in cache_env.items())
    hook.write_text(
        f"#!/bin/sh\n{env_lines}exec '{sys.executable}' -m leakmesh scan git --staged --progress=never\n"
    )
    hook.chmod(0o755)
    env = {**os.environ, **ENV}
    (repo / "new.py").write_text(f"TOKEN = '{SIDE}'\n")
    subprocess.run(["git", "-C", str(repo), "add", "new.py"], env=env, check=True)
    refused = subprocess.run(
        ["git", "-C", str(repo), "commit", "-q", "-m", "leak"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0
    assert SIDE not in refused.stdout + refused.stderr
    (repo / "new.py").write_text(f"TOKEN = '{SIDE}'  # leakmesh:allow\n")
    (repo / "legacy.txt").write_text(f"{DELETED}\nmore text\n")
    subprocess.run(["git", "-C", str(repo), "add", "new.py", "legacy.txt"], env=env, check=True)
    allowed = subprocess.run(
        ["git", "-C", str(repo), "commit", "-q", "-m", "ok"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr


def test_a_copy_is_an_introduction_a_move_is_not(cache_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo = tmp_path / "copies"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    first = commit(repo, "add", {"a/settings.py": f"TOKEN = '{RENAMED}'\n"})
    copied = commit(repo, "copy", {"b/settings.py": f"TOKEN = '{RENAMED}'\n"})
    (repo / "c").mkdir()
    git(repo, "mv", "a/settings.py", "c/settings.py")
    commit(repo, "move", {})
    _, report = scan(repo, cache_env)
    found = sorted(
        (f["path"], f["commit"]) for f in report["findings"] if f["rule_id"] == "github-pat-classic"
    )
    assert found == sorted([("a/settings.py", first), ("b/settings.py", copied)])


def test_a_secret_kept_across_edits_is_reported_where_introduced(cache_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo = tmp_path / "edits"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    introduced = commit(repo, "add", {"app.py": f"TOKEN = '{SIDE}'\nDEBUG = False\n"})
    commit(repo, "edit", {"app.py": f"# settings\nTOKEN = '{SIDE}'\nDEBUG = True\n"})
    commit(repo, "edit again", {"app.py": f"# settings\nTOKEN = '{SIDE}'\nDEBUG = False\n"})
    code, report = scan(repo, cache_env)
    found = [
        (f["path"], f["commit"], f["line"])
        for f in report["findings"]
        if f["rule_id"] == "github-pat-classic"
    ]
    assert code == 1 and found == [("app.py", introduced, 1)]
    assert report["stats"]["blobs_scanned"] == 3
