"""`leakmesh scan` as a user runs it: a subprocess on a directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import github_token, run_cli

TOKEN = github_token(21)
OTHER = github_token(22)


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {"LEAKMESH_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}


def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "src").mkdir(parents=True)
    (root / "src" / "settings.py").write_text(f"DEBUG = True\nGITHUB_TOKEN = '{TOKEN}'\n")
    (root / "README.md").write_text("# demo\n")
    return root


def scan_json(root: Path, env: dict[str, str], *extra: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    proc = run_cli("scan", str(root), "--format=json", *extra, env=env)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_findings_exit_1_with_json_report(tmp_path: Path, cache_env: dict[str, str]) -> None:
    code, report = scan_json(project(tmp_path), cache_env)
    assert code == 1
    [finding] = [f for f in report["findings"] if f["rule_id"] == "github-pat-classic"]
    assert (finding["path"], finding["line"], finding["column"]) == ("src/settings.py", 2, 17)
    for key in ("rule_name", "fingerprint", "preview", "confidence"):
        assert finding[key]
    stats = report["stats"]
    assert stats["items_scanned"] == 2 and stats["findings_emitted"] >= 1
    assert isinstance(stats["items_skipped"], dict) and "duration_s" in stats
    assert len(report["policy_hash"]) == 64


def test_clean_tree_exits_0(tmp_path: Path, cache_env: dict[str, str]) -> None:
    (tmp_path / "a.py").write_text("print('hello')\n")
    proc = run_cli("scan", str(tmp_path), env=cache_env)
    assert proc.returncode == 0, proc.stderr
    assert "0 findings" in proc.stdout


def test_bad_configuration_exits_2_with_one_line(tmp_path: Path, cache_env: dict[str, str]) -> None:
    for args, env, needle in [
        (["--format=xml"], {}, "--format"),
        (["--decode-depth=99"], {}, "--decode-depth"),
        ([], {"LEAKMESH_JOBS": "lots"}, "LEAKMESH_JOBS"),
        ([], {"LEAKMESH_TENANT_SECRET_KEY": "00" * 32}, "LEAKMESH_TENANT_SECRET_KEY"),
        (["--baseline", str(tmp_path / "missing.json")], {}, "baseline"),
    ]:
        proc = run_cli("scan", str(tmp_path), *args, env=cache_env | env)
        assert proc.returncode == 2, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and needle in proc.stderr, proc.stderr
    missing = run_cli("scan", str(tmp_path / "nope"), env=cache_env)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_flag_wins_over_malformed_variable(tmp_path: Path, cache_env: dict[str, str]) -> None:
    proc = run_cli(
        "scan",
        str(project(tmp_path)),
        "--jobs=1",
        "--format=jsonl",
        env=cache_env | {"LEAKMESH_JOBS": "x", "LEAKMESH_FORMAT": "text"},
    )
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout.splitlines()[0])["rule_id"]


def test_secrets_are_redacted_unless_show_secrets(
    tmp_path: Path, cache_env: dict[str, str]
) -> None:
    root = project(tmp_path)
    for fmt in ("text", "json", "jsonl", "sarif", "csv"):
        proc = run_cli("scan", str(root), f"--format={fmt}", env=cache_env)
        assert proc.returncode == 1
        assert TOKEN not in proc.stdout and TOKEN not in proc.stderr, fmt
    shown = run_cli("scan", str(root), "--show-secrets", env=cache_env)
    assert TOKEN in shown.stdout


def test_summary_line_and_no_progress_when_not_a_terminal(
    tmp_path: Path, cache_env: dict[str, str]
) -> None:
    proc = run_cli("scan", str(project(tmp_path)), "--format=json", env=cache_env)
    [line] = proc.stderr.strip().splitlines()
    assert "event=scan.summary" in line
    for field in (
        "items_scanned=2",
        "bytes_scanned=",
        "findings_emitted=",
        "duration_s=",
        "throughput_mib_s=",
    ):
        assert field in line


def test_output_file(tmp_path: Path, cache_env: dict[str, str]) -> None:
    out = tmp_path / "report.sarif"
    proc = run_cli(
        "scan", str(project(tmp_path)), "--format=sarif", f"--output={out}", env=cache_env
    )
    assert proc.returncode == 1 and proc.stdout == ""
    assert json.loads(out.read_text())["version"] == "2.1.0"


def test_baseline_suppresses_known_findings_even_after_lines_move(
    tmp_path: Path, cache_env: dict[str, str]
) -> None:
    root = project(tmp_path)
    baseline = tmp_path / "baseline.json"
    created = run_cli("baseline", "create", str(root), f"--output={baseline}", env=cache_env)
    assert created.returncode == 0, created.stderr
    settings = root / "src" / "settings.py"
    settings.write_text("# moved down\n\n\n" + settings.read_text())
    code, report = scan_json(root, cache_env, f"--baseline={baseline}")
    assert code == 0 and report["findings"] == []
    assert report["stats"]["findings_suppressed"] >= 1
    (root / "new.env").write_text(f"TOKEN={OTHER}\n")
    code, report = scan_json(root, cache_env, f"--baseline={baseline}")
    assert code == 1 and [f["path"] for f in report["findings"]] == ["new.env"]


def test_inline_allow(tmp_path: Path, cache_env: dict[str, str]) -> None:
    (tmp_path / "a.py").write_text(f"TOKEN = '{TOKEN}'  # leakmesh:allow\n")
    proc = run_cli("scan", str(tmp_path), env=cache_env)
    assert proc.returncode == 0, proc.stdout


def test_ignore_file_and_gitignore(tmp_path: Path, cache_env: dict[str, str]) -> None:
    root = project(tmp_path)
    (root / ".leakmeshignore").write_text("src/settings.py\n")
    assert scan_json(root, cache_env)[0] == 0
    (root / ".leakmeshignore").unlink()
    (root / ".gitignore").write_text("src/\n")
    assert scan_json(root, cache_env)[0] == 0
    assert scan_json(root, cache_env, "--no-gitignore")[0] == 1


def test_archive_member_findings_and_skip_archives(
    tmp_path: Path, cache_env: dict[str, str]
) -> None:
    import zipfile

    with zipfile.ZipFile(tmp_path / "bundle.zip", "w") as archive:
        archive.writestr("conf/app.env", f"TOKEN={TOKEN}\n")
    code, report = scan_json(tmp_path, cache_env)
    assert code == 1 and report["findings"][0]["path"] == "bundle.zip!conf/app.env"
    code, report = scan_json(tmp_path, cache_env, "--skip-archives")
    assert code == 0 and report["stats"]["items_skipped"] == {"archive": 1}


def test_corrupt_and_binary_files_are_skipped_with_reasons(
    tmp_path: Path, cache_env: dict[str, str]
) -> None:
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04" + b"\x00garbage" * 10)
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\x02" + TOKEN.encode())
    (tmp_path / "ok.txt").write_text(f"{TOKEN}\n")
    code, report = scan_json(tmp_path, cache_env)
    assert code == 1
    assert report["stats"]["items_skipped"] == {"binary": 1, "corrupt_archive": 1}
    code, report = scan_json(tmp_path, cache_env, "--scan-binary")
    assert {f["path"] for f in report["findings"]} == {"ok.txt", "blob.bin"}


def test_version_and_rules_commands(cache_env: dict[str, str]) -> None:
    version = run_cli("--version", env=cache_env)
    assert version.returncode == 0 and version.stdout.startswith("leakmesh ")
    listing = run_cli("rules", "list", "--format=json", env=cache_env)
    assert listing.returncode == 0 and len(json.loads(listing.stdout)) >= 200
    check = run_cli("rules", "check", env=cache_env, timeout=600)
    assert check.returncode == 0, check.stdout[-2000:]
