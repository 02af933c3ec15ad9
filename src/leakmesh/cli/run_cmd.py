"""`leakmesh run create|status|list`: plan a fleet run into shards on etcd, and
follow it. The run id comes from the findings database (the run row its
observations refer to); the shards go to etcd under the namespace."""

from __future__ import annotations

# The etcd and PostgreSQL clients are imported by the handlers that use them:
# every other command would pay for them at start-up.
import argparse
import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leakmesh.cli.common import EXIT_CLEAN
from leakmesh.cli.worker_cmd import add_flags, flag_values
from leakmesh.coordination.errors import CoordinationError
from leakmesh.coordination.models import RunSpec, ShardState, ShardStatus, SourceKind
from leakmesh.coordination.shards import run_complete
from leakmesh.runtime.planning import PlanOptions
from leakmesh.sources.mirrors import without_credentials
from leakmesh.store.migrate import MigrationPolicy
from leakmesh.store.models import now
from leakmesh.worker.config import resolve_content
from leakmesh.worker.engine_settings import ENGINE_OPTIONS, build_engine, resolve_engine_flags
from leakmesh.worker.options import (
    ENGINE_GROUP,
    ETCD_ENDPOINTS,
    ETCD_NAMESPACE,
    FINDINGS_DSN,
    TENANT_ID,
    WORKER_OPTIONS,
    WorkerOption,
)
from leakmesh.worker.scan_options import SCHEMA_POLICY
from leakmesh.worker.settings import ConfigError, int_in_range

if TYPE_CHECKING:
    from leakmesh.coordination.etcd import EtcdCoordinator

_COORDINATION = (ETCD_ENDPOINTS, ETCD_NAMESPACE)
_CREATE = (*_COORDINATION, FINDINGS_DSN, TENANT_ID, SCHEMA_POLICY)


def _entries(options: tuple[Any, ...], *, engine: bool = False) -> list[WorkerOption]:
    flags = {o.flag for o in options}
    engine_flags = {o.flag for o in ENGINE_OPTIONS}
    return [
        e
        for e in WORKER_OPTIONS
        if e.flag in flags or (engine and (e.group == ENGINE_GROUP or e.flag in engine_flags))
    ]


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], *, summary: str
) -> None:
    parser = subparsers.add_parser("run", help=summary)
    commands = parser.add_subparsers(dest="run_command", required=True, metavar="COMMAND")

    create = commands.add_parser(
        "create",
        help="plan a run into shards",
        description="Plan a run: a directory into shards of path ranges, or git repositories "
        "into one shard each (several blob-id ranges for big ones). Prints the run id and the "
        "policy hash the workers must be given (LEAKMESH_RUN_ID, LEAKMESH_POLICY_HASH).",
    )
    create.add_argument("source", choices=("fs", "git"), help="what the run scans")
    create.add_argument(
        "targets", nargs="+", metavar="PATH_OR_URL", help="a directory (fs), or repositories (git)"
    )
    defaults = PlanOptions()
    create.add_argument(
        "--files-per-shard",
        metavar="N",
        help=f"fs: files per shard (default {defaults.files_per_shard})",
    )
    create.add_argument(
        "--blob-ranges",
        metavar="N",
        help="git: blob-id ranges per repository "
        f"(default: one per {defaults.objects_per_shard:,} objects)",
    )
    create.add_argument("--format", choices=("text", "json"), default="text")
    add_flags(create, _entries(_CREATE, engine=True))
    create.set_defaults(handler=_create, entries=_entries(_CREATE, engine=True))

    status = commands.add_parser("status", help="progress of a run, per shard")
    status.add_argument("run_id", type=int, metavar="RUN_ID")
    status.add_argument("--format", choices=("text", "json"), default="text")
    add_flags(status, _entries(_COORDINATION))
    status.set_defaults(handler=_status, entries=_entries(_COORDINATION))

    listing = commands.add_parser("list", help="the runs in the namespace")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    add_flags(listing, _entries(_COORDINATION))
    listing.set_defaults(handler=_list, entries=_entries(_COORDINATION))


def _required(option: Any, flags: Mapping[str, str | None], environ: Mapping[str, str]) -> Any:
    value = option.resolve(flags.get(option.flag), environ)
    if value is None:
        raise ConfigError(f"missing {option.env} (or {option.flag})")
    return value


async def _coordinator(
    flags: Mapping[str, str | None], environ: Mapping[str, str]
) -> EtcdCoordinator:
    from leakmesh.coordination.etcd import EtcdCoordinator

    endpoints = _required(ETCD_ENDPOINTS, flags, environ)
    namespace = _required(ETCD_NAMESPACE, flags, environ)
    try:
        return await EtcdCoordinator.connect(endpoints, namespace=namespace)
    except CoordinationError as exc:
        raise ConfigError(str(exc)) from None


def _create(args: argparse.Namespace) -> int:
    from leakmesh.runtime.planning import plan_fs, plan_git
    from leakmesh.store.postgres import PostgresDatastore

    environ = os.environ
    flags = flag_values(args, args.entries)
    tenant = _required(TENANT_ID, flags, environ)
    dsn = _required(FINDINGS_DSN, flags, environ)
    policy = MigrationPolicy(SCHEMA_POLICY.resolve(flags.get(SCHEMA_POLICY.flag), environ))
    engine_flags = {o.flag: flags.get(o.flag) for o in ENGINE_OPTIONS}
    engine = build_engine(resolve_engine_flags(flags=engine_flags, environ=environ))

    def get(option: Any) -> Any:
        return option.resolve(flags.get(option.flag), environ)

    def name(option: Any) -> str:
        return str(option.flag if flags.get(option.flag) is not None else option.env)

    content = resolve_content(get=get, name=name)
    plan = PlanOptions(
        files_per_shard=int_in_range(1, 10_000_000)(args.files_per_shard)
        if args.files_per_shard
        else PlanOptions().files_per_shard,
        blob_ranges=int_in_range(1, 4096)(args.blob_ranges) if args.blob_ranges else 0,
    )
    source = SourceKind(args.source)
    if source is SourceKind.FS:
        if len(args.targets) != 1 or not Path(args.targets[0]).is_dir():
            raise ConfigError("run create fs: give exactly one existing directory")
        root = Path(args.targets[0]).resolve()
        source_options = content.source_options(root=root)
        shards = plan_fs(root, source=source_options, options=plan)
        target = str(root)
    else:
        root = Path(".")
        source_options = content.source_options(root=root)
        repos = [str(Path(t).resolve()) if Path(t).exists() else t for t in args.targets]
        if any(without_credentials(r) != r for r in repos):
            raise ConfigError(
                "run create git: a repository URL carries credentials, which would be stored "
                "with the run; give workers a git credential helper or SSH key instead"
            )
        shards = plan_git(repos, options=plan)
        target = "\n".join(repos)
    policy_hash = engine.policy_hash(source_options.policy_options())

    async def create() -> int:
        coordinator = await _coordinator(flags, environ)
        store = await PostgresDatastore.open(dsn, policy=policy)
        try:
            run_id = await store.start_run(
                tenant=tenant, policy_hash=policy_hash, source=source.value, target=target
            )
            spec = RunSpec(run_id, tenant, policy_hash, source, target, now())
            await coordinator.create_run(spec, shards)
            return run_id
        finally:
            await store.close()
            await coordinator.close()

    run_id = asyncio.run(create())
    if args.format == "json":
        print(json.dumps({"run_id": run_id, "policy_hash": policy_hash, "shards": len(shards)}))
    else:
        print(f"run {run_id}: {len(shards)} shard(s), policy hash {policy_hash}")
        print(f"  LEAKMESH_RUN_ID={run_id} LEAKMESH_POLICY_HASH={policy_hash}")
    return EXIT_CLEAN


def _shard_row(status: ShardStatus) -> dict[str, object]:
    record = status.record
    return {
        "shard_id": status.spec.shard_id,
        "state": record.state.value,
        "owner": status.owner,
        "fence": record.fence,
        "attempts": record.attempts,
        "cursor": record.cursor,
        "items": record.progress.items,
        "bytes": record.progress.bytes,
        "findings": record.progress.findings,
        "reason": record.reason,
    }


def _status(args: argparse.Namespace) -> int:
    environ = os.environ
    flags = flag_values(args, args.entries)

    async def fetch() -> tuple[RunSpec, list[ShardStatus]]:
        coordinator = await _coordinator(flags, environ)
        try:
            return await coordinator.get_run(args.run_id), await coordinator.list_shards(
                args.run_id
            )
        except CoordinationError as exc:
            raise ConfigError(str(exc)) from None
        finally:
            await coordinator.close()

    run, shards = asyncio.run(fetch())
    rows = [_shard_row(s) for s in shards]
    states = Counter(str(r["state"]) for r in rows)
    complete = run_complete(s.record for s in shards)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "run_id": run.run_id,
                    "source": run.source.value,
                    "complete": complete,
                    "states": dict(states),
                    "shards": rows,
                }
            )
        )
        return EXIT_CLEAN
    summary = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    print(
        f"run {run.run_id} ({run.source.value}): {'complete' if complete else 'in progress'} — {summary}"
    )
    for r in rows:
        owner = f"worker {r['owner']}" if r["owner"] is not None else "-"
        print(
            f"  {r['shard_id']}  {r['state']:<8} {owner:<12} fence {r['fence']:<3} "
            f"items {r['items']:<8} findings {r['findings']}"
            + (f"  ({r['reason']})" if r["reason"] else "")
        )
    return EXIT_CLEAN


def _list(args: argparse.Namespace) -> int:
    environ = os.environ
    flags = flag_values(args, args.entries)

    async def fetch() -> list[tuple[RunSpec, list[ShardStatus]]]:
        coordinator = await _coordinator(flags, environ)
        try:
            return [
                (run, await coordinator.list_shards(run.run_id))
                for run in await coordinator.list_runs()
            ]
        finally:
            await coordinator.close()

    runs = asyncio.run(fetch())
    rows = [
        {
            "run_id": run.run_id,
            "source": run.source.value,
            "created_at": run.created_at,
            "shards": len(shards),
            "done": sum(1 for s in shards if s.record.state is ShardState.DONE),
        }
        for run, shards in runs
    ]
    if args.format == "json":
        print(json.dumps(rows))
    else:
        for r in rows:
            print(
                f"run {r['run_id']} ({r['source']}) created {r['created_at']}: {r['done']}/{r['shards']} shards done"
            )
    sys.stdout.flush()
    return EXIT_CLEAN
