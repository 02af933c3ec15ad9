"""Datastore benchmarks (issue: the datastore), on SQLite and a real PostgreSQL.

    bench/.venv/bin/python bench/store.py [--findings 100000] [--keys 1000000] [--no-append]

1. Ingest: a scan's worth of findings (one occurrence and one observation each)
   upserted in the CLI's chunk size; rows/s counts findings + occurrences +
   observations written.
2. Done-ledger: `keys` object ids marked, then looked up in batches; keys/s.
3. Warm rescan: `leakmesh scan git --store` of the history repository made by
   bench/run_git.py, cold (empty store) then warm (nothing changed), as a ratio.

PostgreSQL is started from the Debian packages on a loopback port, as the
integration tests do (tests/integration/pg_server.py).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
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
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "bench"))

import run as fsbench  # noqa: E402  the source snapshot

from leakmesh.runtime.local_store import UPSERT_CHUNK  # noqa: E402
from leakmesh.store.factory import open_datastore  # noqa: E402
from leakmesh.store.migrate import MigrationPolicy  # noqa: E402
from leakmesh.store.models import LedgerStatus, ObservationContext, OccurrenceRecord  # noqa: E402
from leakmesh.store.protocols import Datastore  # noqa: E402

TENANT = "ab" * 32
POLICY = "cd" * 32
LOOKUP_BATCH = 10_000


def records(count: int) -> list[OccurrenceRecord]:
    return [
        OccurrenceRecord(
            tenant=TENANT,
            fingerprint=f"{i:032x}",
            rule_id=f"rule-{i % 97}",
            rule_name="Bench rule",
            confidence="high",
            preview="abcd********",
            repo="bench",
            object_id=f"{i:064x}",
            start=i % 4096,
            end=i % 4096 + 40,
            path=f"src/dir{i % 500}/file{i}.py",
            line=1 + i % 300,
            column=1 + i % 80,
        )
        for i in range(count)
    ]


async def ingest(store: Datastore, count: int) -> float:
    rows = records(count)
    run_id = await store.start_run(tenant=TENANT, policy_hash=POLICY, source="fs", target="bench")
    context = ObservationContext(run_id=run_id, policy_hash=POLICY)
    started = time.perf_counter()
    for start in range(0, count, UPSERT_CHUNK):
        await store.upsert(rows[start : start + UPSERT_CHUNK], context)
    return 3 * count / (time.perf_counter() - started)


async def ledger(store: Datastore, keys: int) -> tuple[float, float]:
    ids = [f"{i:040x}" for i in range(keys)]
    started = time.perf_counter()
    for start in range(0, keys, LOOKUP_BATCH):
        await store.mark(
            TENANT,
            POLICY,
            {oid: LedgerStatus.SCANNED_CLEAN for oid in ids[start : start + LOOKUP_BATCH]},
        )
    marked = keys / (time.perf_counter() - started)
    started = time.perf_counter()
    found = 0
    for start in range(0, keys, LOOKUP_BATCH):
        found += len(await store.lookup(TENANT, POLICY, ids[start : start + LOOKUP_BATCH]))
    looked = keys / (time.perf_counter() - started)
    assert found == keys
    return marked, looked


async def measure(dsn: str, *, findings: int, keys: int) -> tuple[float, float, float]:
    store = await open_datastore(dsn, policy=MigrationPolicy.DEV_AUTO_MIGRATE)
    try:
        ingested = await ingest(store, findings)
        marked, looked = await ledger(store, keys)
    finally:
        await store.close()
    return ingested, marked, looked


def timed_cli(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise RuntimeError(done.stderr.decode(errors="replace").strip()[-500:])
    return elapsed


def rescan(
    repo: Path, dsn_factory: Callable[[], str], repeat: int, warm_repeat: int
) -> tuple[float, float]:
    """Median cold and warm scan times: `repeat` fresh stores, each scanned cold
    (schema created on the way) then `warm_repeat` times warm under the default
    schema policy, as a user who ran `db migrate` once would."""
    leakmesh = str(ROOT / "bench" / ".venv" / "bin" / "leakmesh")
    if not Path(leakmesh).exists():
        leakmesh = str(ROOT / ".venv" / "bin" / "leakmesh")
    cold_times, warm_times = [], []
    work = Path(tempfile.mkdtemp(prefix="lm-report-"))
    report = work / "report.json"
    snapshot_env, _ = fsbench.snapshot_leakmesh(work / "leakmesh-snapshot")
    for _ in range(repeat):
        dsn = dsn_factory()
        env = (
            {k: v for k, v in os.environ.items() if not k.startswith("LEAKMESH_")}
            | snapshot_env
            | {
                "LEAKMESH_STORE": dsn,
                "LEAKMESH_SCHEMA_POLICY": "dev-auto-migrate",
            }
        )
        command = [
            leakmesh,
            "scan",
            "git",
            str(repo),
            "--format=json",
            f"--output={report}",
            "--progress=never",
        ]
        cold_times.append(timed_cli(command, env))
        cold = json.loads(report.read_text())["stats"]
        if not cold["blobs_scanned"]:
            raise RuntimeError(f"unexpected cold scan: {cold}")
        warm_env = {k: v for k, v in env.items() if k != "LEAKMESH_SCHEMA_POLICY"}
        for _ in range(warm_repeat):
            warm_times.append(timed_cli(command, warm_env))
            warm = json.loads(report.read_text())["stats"]
            if warm["blobs_scanned"]:
                raise RuntimeError(f"unexpected rescan: cold {cold}, warm {warm}")
    return statistics.median(cold_times), statistics.median(warm_times)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--findings", type=int, default=100_000)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="cold scans (fresh stores)")
    parser.add_argument(
        "--warm-repeat", type=int, default=7, help="warm rescans after each cold scan"
    )
    parser.add_argument("--repo", type=Path, default=ROOT / "bench" / "work" / "history" / "repo")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()

    from pg_server import start_server, stop_server

    work = Path(tempfile.mkdtemp(prefix="lm-store-bench-"))
    server = start_server()
    counter = iter(range(1, 1_000_000))
    try:
        backends: dict[str, Callable[[], str]] = {
            "SQLite": lambda: f"sqlite:///{work}/s{next(counter)}.db",
            f"PostgreSQL ({server.bindir.parent.name})": lambda: server.create_database("bench"),
        }
        rows = []
        for name, make_dsn in backends.items():
            ingested, marked, looked = asyncio.run(
                measure(make_dsn(), findings=args.findings, keys=args.keys)
            )
            cold = warm = float("nan")
            if (args.repo / "HEAD").exists() or (args.repo / ".git").exists():
                cold, warm = rescan(args.repo, make_dsn, args.repeat, args.warm_repeat)
            rows.append(
                f"| {name} | {ingested:,.0f} | {marked:,.0f} | {looked:,.0f} | {cold:.2f} | {warm:.3f} | {warm / cold:.3f}x |"
            )
    finally:
        stop_server(server)
    lines = [
        f"## {datetime.date.today()} — datastore: nproc {os.cpu_count()}, Python {platform.python_version()}",
        "",
        f"Ingest of {args.findings:,} findings (rows = findings + occurrences + observations, "
        f"upserts of {UPSERT_CHUNK:,}); done-ledger of {args.keys:,} keys in batches of {LOOKUP_BATCH:,}; "
        f"rescan of {args.repo.name}: cold (empty store, schema created by `dev-auto-migrate`), median of "
        f"{args.repeat}; warm (nothing changed, default `validate` policy), median of "
        f"{args.repeat * args.warm_repeat}; whole `leakmesh scan git --store` processes.",
        "",
        "| backend | ingest rows/s | ledger marks/s | ledger lookups/s | cold rescan s | warm rescan s | warm/cold |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ]
    fsbench.publish("\n".join(lines), append=not args.no_append)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
