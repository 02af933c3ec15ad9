"""`leakmesh worker [--mode=direct|connector] [--backend=local|production] [fs|git] [PATH]`.

The flags are generated from `leakmesh.worker.config.WORKER_OPTIONS`, the same list
the README table is checked against; resolution and validation live there.
"""

from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Mapping
from typing import Protocol

from leakmesh.worker.config import (
    WORKER_OPTIONS,
    WorkerConfig,
    WorkerOption,
    resolve_worker_config,
)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="run a scanning worker: direct (local source) or connector (shards of a fleet run)",
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
    groups: dict[str, argparse._ArgumentGroup] = {}
    for entry in WORKER_OPTIONS:
        group = groups.get(entry.group)
        if group is None:
            group = groups[entry.group] = parser.add_argument_group(entry.group)
        _add_flag(group, entry)
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


def flag_values(args: argparse.Namespace) -> dict[str, str | None]:
    """The worker flags as `resolve_worker_config` takes them: text, None when not given."""
    values: dict[str, str | None] = {}
    for entry in WORKER_OPTIONS:
        value = getattr(args, _dest(entry.flag), None)
        if isinstance(value, bool):
            value = "true" if value else "false"
        values[entry.flag] = value
    return values


class _RunWorkerCommand(Protocol):
    """What `leakmesh.worker.app.run_worker_command` does: run, return the exit code."""

    def __call__(self, config: WorkerConfig, *, environ: Mapping[str, str]) -> int: ...


def run(args: argparse.Namespace) -> int:
    environ: Mapping[str, str] = os.environ
    config = resolve_worker_config(
        flags=flag_values(args), positional=list(args.target), environ=environ
    )
    # Imported here: the composition root pulls in the etcd and PostgreSQL clients,
    # which `leakmesh scan` and a configuration error never need. By name, typed by
    # the protocol, so this module type-checks whether or not the app is built yet.
    app = importlib.import_module("leakmesh.worker.app")
    run_worker_command: _RunWorkerCommand = app.run_worker_command
    return run_worker_command(config, environ=environ)
