"""`scan`'s options and their resolution into `ScanSettings` (shared with
`baseline create`): flag, then variable, then default, as everywhere."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from msgspec import Struct

from leakmesh.cli import formats
from leakmesh.cli.common import (
    SCHEMA_POLICY,
    STORE,
    TENANT_ID,
    UsageError,
    add_engine_options,
    add_store_options,
)
from leakmesh.engine.rules import Confidence
from leakmesh.runtime.pool import PoolOptions
from leakmesh.runtime.suppression import Baseline, BaselineError, load_baseline
from leakmesh.sources.filesystem import IGNORE_FILE_NAME, FsSourceOptions
from leakmesh.sources.git import HistoryOptions
from leakmesh.store.migrate import MigrationPolicy
from leakmesh.worker.scan_options import (
    IGNORE_FILE,
    MAX_FILE_SIZE,
    NO_GITIGNORE,
    SCAN_BINARY,
    SKIP_ARCHIVES,
    load_ignore_patterns,
)
from leakmesh.worker.settings import ConfigError, Option, choice, int_in_range, parse_bool

SOURCES = ("fs", "git")
MAX_JOBS = 1024

FORMAT = Option("--format", "LEAKMESH_FORMAT", choice(*formats.FORMATS), "text")
OUTPUT = Option[str | None]("--output", "LEAKMESH_OUTPUT", str, None)
JOBS = Option("--jobs", "LEAKMESH_JOBS", int_in_range(1, MAX_JOBS), 0)
BASELINE = Option[str | None]("--baseline", "LEAKMESH_BASELINE", str, None)
SHOW_SECRETS = Option("--show-secrets", "LEAKMESH_SHOW_SECRETS", parse_bool, False)
MIN_CONFIDENCE = Option(
    "--min-confidence", "LEAKMESH_MIN_CONFIDENCE", choice("low", "medium", "high"), "low"
)
PROGRESS = Option("--progress", "LEAKMESH_PROGRESS", choice("auto", "always", "never"), "auto")
BRANCH = Option[str | None]("--branch", "LEAKMESH_BRANCH", str, None)
SINCE = Option[str | None]("--since", "LEAKMESH_SINCE", str, None)
MAX_COUNT = Option[int | None]("--max-count", "LEAKMESH_MAX_COUNT", int_in_range(1, 1 << 31), None)
STAGED = Option("--staged", "LEAKMESH_STAGED", parse_bool, False)


def add_scan_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by `scan` and `baseline create`."""
    parser.add_argument(
        "--format", help="text (default), json, jsonl, sarif or csv [LEAKMESH_FORMAT]"
    )
    parser.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write the report to FILE instead of stdout [LEAKMESH_OUTPUT]",
    )
    parser.add_argument(
        "--jobs", "-j", metavar="N", help="worker processes (default: all cores) [LEAKMESH_JOBS]"
    )
    parser.add_argument(
        "--scan-binary",
        action="store_const",
        const=True,
        help="also scan binary files [LEAKMESH_SCAN_BINARY]",
    )
    parser.add_argument(
        "--skip-archives",
        action="store_const",
        const=True,
        help="do not expand zip/tar/gz/bz2/xz archives [LEAKMESH_SKIP_ARCHIVES]",
    )
    parser.add_argument(
        "--no-gitignore",
        action="store_const",
        const=True,
        help="scan files that .gitignore excludes [LEAKMESH_NO_GITIGNORE]",
    )
    parser.add_argument(
        "--max-file-size",
        metavar="SIZE",
        help="skip larger files, e.g. 512K, 64M (default 100M) [LEAKMESH_MAX_FILE_SIZE]",
    )
    parser.add_argument(
        "--ignore-file",
        metavar="FILE",
        help=f"gitignore-style paths never to scan (default: PATH/{IGNORE_FILE_NAME}) [LEAKMESH_IGNORE_FILE]",
    )
    parser.add_argument(
        "--baseline",
        metavar="FILE",
        help="do not report findings whose fingerprints are in FILE [LEAKMESH_BASELINE]",
    )
    parser.add_argument(
        "--show-secrets",
        action="store_const",
        const=True,
        help="print raw secrets (off: redacted previews) [LEAKMESH_SHOW_SECRETS]",
    )
    parser.add_argument(
        "--min-confidence",
        metavar="LEVEL",
        help="report only findings at least this confident: low (default), medium, high [LEAKMESH_MIN_CONFIDENCE]",
    )
    parser.add_argument(
        "--progress",
        metavar="WHEN",
        help="progress bar on stderr: auto (default: when a terminal), always, never [LEAKMESH_PROGRESS]",
    )
    add_store_options(parser)
    add_engine_options(parser)


class ScanSettings(Struct, frozen=True):
    source: str
    path: Path
    format: str
    output: Path | None
    show_secrets: bool
    min_confidence: Confidence
    progress: str
    pool: PoolOptions
    content: FsSourceOptions
    history: HistoryOptions
    staged: bool
    baseline: Baseline
    store: str | None
    schema_policy: MigrationPolicy
    tenant: str


def parse_target(target: list[str], environ: Mapping[str, str]) -> tuple[str, str]:
    """``[fs|git] [PATH]``: a first word naming a source is the source."""
    if len(target) > 2:
        raise UsageError(f"too many arguments: {' '.join(target)}")
    source = None
    if target and target[0] in SOURCES and (len(target) == 2 or not Path(target[0]).exists()):
        source = target.pop(0)
    if len(target) == 2:
        raise UsageError(f"unknown source {target[0]!r}: expected fs or git")
    path = target[0] if target else None
    source = source or environ.get("LEAKMESH_SOURCE") or "fs"
    if source not in SOURCES:
        raise ConfigError(f"invalid LEAKMESH_SOURCE {source!r}: expected fs or git")
    return source, path or environ.get("LEAKMESH_PATH") or "."


def resolve_scan_settings(args: argparse.Namespace, environ: Mapping[str, str]) -> ScanSettings:
    source, raw_path = parse_target(list(getattr(args, "target", [])), environ)
    path = Path(raw_path)
    if not path.exists():
        raise UsageError(f"path does not exist: {raw_path}")
    baseline_path = BASELINE.resolve(args.baseline, environ)
    try:
        baseline = load_baseline(Path(baseline_path)) if baseline_path else Baseline()
    except BaselineError as exc:
        raise ConfigError(str(exc)) from None
    output = OUTPUT.resolve(args.output, environ)
    source_options = FsSourceOptions(
        respect_gitignore=not NO_GITIGNORE.resolve(args.no_gitignore, environ),
        scan_binary=SCAN_BINARY.resolve(args.scan_binary, environ),
        skip_archives=SKIP_ARCHIVES.resolve(args.skip_archives, environ),
        max_file_bytes=MAX_FILE_SIZE.resolve(args.max_file_size, environ),
        ignore_patterns=load_ignore_patterns(
            root=path, explicit=IGNORE_FILE.resolve(args.ignore_file, environ)
        ),
    )
    staged = STAGED.resolve(getattr(args, "staged", None), environ)
    return ScanSettings(
        source=source,
        path=path,
        format=FORMAT.resolve(args.format, environ),
        output=Path(output) if output else None,
        show_secrets=SHOW_SECRETS.resolve(args.show_secrets, environ),
        min_confidence=Confidence(MIN_CONFIDENCE.resolve(args.min_confidence, environ)),
        progress=PROGRESS.resolve(args.progress, environ),
        pool=PoolOptions(jobs=JOBS.resolve(args.jobs, environ)),
        content=source_options,
        history=_history_options(args, environ, source, staged=staged),
        staged=staged,
        baseline=baseline,
        store=STORE.resolve(getattr(args, "store", None), environ),
        schema_policy=MigrationPolicy(
            SCHEMA_POLICY.resolve(getattr(args, "schema_policy", None), environ)
        ),
        tenant=TENANT_ID.resolve(None, environ).hex(),
    )


def _history_options(
    args: argparse.Namespace, environ: Mapping[str, str], source: str, *, staged: bool
) -> HistoryOptions:
    history = HistoryOptions(
        ref=BRANCH.resolve(getattr(args, "branch", None), environ),
        since=SINCE.resolve(getattr(args, "since", None), environ),
        max_count=MAX_COUNT.resolve(getattr(args, "max_count", None), environ),
    )
    if source != "git" and (history != HistoryOptions() or staged):
        raise UsageError("--branch, --since, --max-count and --staged apply to scan git")
    return history
