"""Measure leakmesh's own design choices, side by side, as ratios.

    bench/.venv/bin/python bench/internals.py [--repeat 3] [--no-append]

1. Executors: `scan fs` of the stdlib copy (bench/work/stdlib, made by run.py)
   with forked worker processes vs threads, 1 and all cores.
2. Blob readers: every blob of a repository read through one
   ``git cat-file --batch-command`` vs pygit2 (libgit2), same blobs, same order.

Appends one table each to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import run as fsbench  # noqa: E402  the report

from leakmesh.engine.engine import Engine, EngineOptions  # noqa: E402
from leakmesh.engine.rules import load_builtin_rules  # noqa: E402
from leakmesh.runtime.pool import ExecutorKind, PoolOptions  # noqa: E402
from leakmesh.runtime.scan_fs import LocalScanOptions, scan_fs  # noqa: E402
from leakmesh.sources.git_blobs import BlobReader  # noqa: E402


def median_time(run: Callable[[], object], repeat: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def executors(tree: Path, repeat: int) -> list[str]:
    cache = Path(tempfile.mkdtemp(prefix="lm-cache-"))
    engine = Engine(
        ruleset=load_builtin_rules(cache_dir=cache), options=EngineOptions(cache_dir=cache)
    )
    cores = os.cpu_count() or 1
    rows = []
    baseline = None
    for kind in (ExecutorKind.PROCESS, ExecutorKind.THREAD):
        for jobs in sorted({1, cores}):
            options = LocalScanOptions(pool=PoolOptions(jobs=jobs, executor=kind))
            seconds = median_time(lambda o=options: scan_fs(tree, engine=engine, options=o), repeat)
            baseline = baseline or seconds
            rows.append(f"| {kind.value} | {jobs} | {seconds:.3f} | {seconds / baseline:.2f}x |")
    return [
        f"### executors: scan of {tree.name} in-process (engine built once), median of {repeat}",
        "",
        "| executor | jobs | wall s | ratio to process×1 |",
        "|---|---|---|---|",
        *rows,
    ]


def blob_readers(repo: Path, repeat: int) -> list[str]:
    import pygit2

    listing = subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "cat-file",
            "--batch-all-objects",
            "--batch-check=%(objectname) %(objecttype)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    blobs = [line.split()[0] for line in listing if line.endswith(" blob")]

    def with_cat_file() -> int:
        reader = BlobReader(repo)
        total = 0
        for start in range(0, len(blobs), 256):
            total += sum(
                len(b.data or b"")
                for b in reader.read(blobs[start : start + 256], max_bytes=1 << 30)
            )
        reader.close()
        return total

    def with_pygit2() -> int:
        repository = pygit2.Repository(str(repo))
        return sum(len(repository[oid].data) for oid in blobs)

    assert with_cat_file() == with_pygit2()
    cat = median_time(with_cat_file, repeat)
    lib = median_time(with_pygit2, repeat)
    return [
        f"### blob readers: {len(blobs)} blobs of {repo.name}, median of {repeat}",
        "",
        "| reader | wall s | ratio to cat-file |",
        "|---|---|---|",
        f"| git cat-file --batch-command | {cat:.3f} | 1.00x |",
        f"| pygit2 {pygit2.__version__} (libgit2 {pygit2.LIBGIT2_VERSION}) | {lib:.3f} | {lib / cat:.2f}x |",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tree", type=Path, default=ROOT / "bench" / "work" / "stdlib")
    parser.add_argument("--repo", type=Path, default=ROOT / "bench" / "work" / "history" / "repo")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    lines = [
        f"## {datetime.date.today()} — internals: nproc {os.cpu_count()}, Python {platform.python_version()}",
        "",
    ]
    if args.tree.is_dir():
        lines += [*executors(args.tree, args.repeat), ""]
    if (args.repo / "HEAD").exists() or (args.repo / ".git").exists():
        lines += [*blob_readers(args.repo, args.repeat), ""]
    fsbench.publish("\n".join(lines), append=not args.no_append)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
