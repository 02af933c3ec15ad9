"""`leakmesh worker [--mode=direct|connector] [--backend=local|production] [fs|git] [PATH]`.

The flags are generated from `leakmesh.worker.config.WORKER_OPTIONS`, the same list
the README table is checked against; resolution and validation live there.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence

from leakmesh.worker.config import resolve_worker_config
from leakmesh.worker.options import WORKER_OPTIONS, WorkerOption


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], *, summary: str
) -> None:
    parser = subparsers.add_parser(
        "worker",
        help=summary,
        description="Run a worker. In connector mode (the default) it takes shards of a run "
        "from etcd and writes findings to PostgreSQL; every production setting is then "
        "required. In direct mode it scans a local source once. Pass secrets (DSNs with "
        "passwords, LEAKMESH_TENANT_SECRET_KEY) by environment, not flags: flags show in "
        "ps. Exit 2 on invalid configuration.",
    )
    parser.add_argument(
        "target",
        nargs="*",
        metavar="[fs|git] [PATH]",
        help="source (fs or git) and path, as --source and --path",
    )
    add_flags(parser, WORKER_OPTIONS)
    parser.set_defaults(handler=run)


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _add_flag(group: argparse._ArgumentGroup, entry: WorkerOption) -> None:
    default = f"; default {entry.default}" if entry.default else ""
    text = f"{entry.help}{default} [{entry.env}]".replace("%", "%%")
    if not entry.boolean:
        group.add_argument(entry.flag, dest=_dest(entry.flag), metavar=entry.metavar, help=text)
    elif entry.flag.startswith("--no-"):
        group.add_argument(
            entry.flag, dest=_dest(entry.flag), action="store_const", const=True, help=text
        )
    else:
        # --flag / --no-flag rather than an optional value: `--scan-binary fs .`
        # must not read "fs" as the flag's value.
        group.add_argument(
            entry.flag, dest=_dest(entry.flag), action=argparse.BooleanOptionalAction, help=text
        )


def add_flags(parser: argparse.ArgumentParser, entries: Sequence[WorkerOption]) -> None:
    """`entries` as flags, in argument groups by their `group`."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for entry in entries:
        group = groups.get(entry.group)
        if group is None:
            group = groups[entry.group] = parser.add_argument_group(entry.group)
        _add_flag(group, entry)


def flag_values(
    args: argparse.Namespace, entries: Sequence[WorkerOption] = WORKER_OPTIONS
) -> dict[str, str | None]:
    """The worker flags as `resolve_worker_config` takes them: text, None when not given."""
    values: dict[str, str | None] = {}
    for entry in entries:
        value = getattr(args, _dest(entry.flag), None)
        if isinstance(value, bool):
            value = "true" if value else "false"
        values[entry.flag] = value
    return values


def run(args: argparse.Namespace) -> int:
    environ: Mapping[str, str] = os.environ
    config = resolve_worker_config(
        flags=flag_values(args), positional=list(args.target), environ=environ
    )
    # Imported here: the composition root pulls in the etcd and PostgreSQL clients,
    # which `leakmesh scan` and a configuration error never need.
    from leakmesh.worker.app import run_worker_command

    return run_worker_command(config, environ=environ)
