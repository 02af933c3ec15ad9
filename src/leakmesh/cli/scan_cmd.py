"""`leakmesh scan [fs] [PATH]`: scan a directory and report."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING

from msgspec.structs import replace

from leakmesh.cli import formats, sarif
from leakmesh.cli.common import (
    EXIT_CLEAN,
    EXIT_FINDINGS,
    build_engine,
    resolve_engine_settings,
)
from leakmesh.cli.logs import log_event
from leakmesh.cli.progress import Progress
from leakmesh.cli.scan_settings import (
    ScanSettings,
    add_scan_options,
    resolve_scan_settings,
)
from leakmesh.runtime.local_store import IncrementalScan, StoreTarget, scan_with_store
from leakmesh.runtime.stores import open_stores
from leakmesh.sources.git import GitError, HistoryOptions, open_repository, ref_tips
from leakmesh.store.dsn import redact
from leakmesh.store.errors import StoreError
from leakmesh.worker.settings import ConfigError

if TYPE_CHECKING:
    from leakmesh.engine.engine import Engine
    from leakmesh.engine.finding import Finding
    from leakmesh.runtime.scan_fs import AlreadyDone
    from leakmesh.runtime.stats import ScanResult


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], *, summary: str
) -> None:
    parser = subparsers.add_parser(
        "scan",
        help=summary,
        description="Scan a directory for leaked credentials. Exit codes: 0 nothing found, "
        "1 findings, 2 invalid configuration or usage.",
    )
    parser.add_argument(
        "target",
        nargs="*",
        metavar="[fs|git] [PATH]",
        help="source: fs (a directory or file, the default) or git (the whole history "
        "of the repository at PATH); PATH defaults to . [LEAKMESH_SOURCE, LEAKMESH_PATH]",
    )
    add_scan_options(parser)
    git = parser.add_argument_group("git history (scan git)")
    git.add_argument(
        "--branch",
        metavar="REF",
        help="only the history of REF (default: all refs) [LEAKMESH_BRANCH]",
    )
    git.add_argument(
        "--since", metavar="REV", help="only commits not reachable from REV [LEAKMESH_SINCE]"
    )
    git.add_argument("--max-count", metavar="N", help="walk at most N commits [LEAKMESH_MAX_COUNT]")
    git.add_argument(
        "--staged",
        action="store_const",
        const=True,
        help="scan only what is staged for the next commit (lines being added), for pre-commit hooks [LEAKMESH_STAGED]",
    )
    parser.set_defaults(handler=run)


def open_output(output: Path | str | None) -> AbstractContextManager[IO[str]]:
    if output is None:
        return nullcontext(sys.stdout)
    try:
        return open(output, "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise ConfigError(f"cannot write --output {output}: {exc.strerror}") from None


def _keep(settings: ScanSettings) -> Callable[[Finding], bool]:
    rank = settings.min_confidence.rank
    return lambda f: f.confidence.rank >= rank and not settings.baseline.suppresses(f)


def execute_scan(
    settings: ScanSettings,
    *,
    engine: Engine,
    on_findings: Callable[[list[Finding]], None] | None = None,
) -> ScanResult:
    """Run the scan with progress and filtering; the report is the caller's."""
    keep = _keep(settings)

    def emit(batch: list[Finding]) -> None:
        kept = [f for f in batch if keep(f)]
        if kept and on_findings is not None:
            on_findings(kept)

    show_progress = settings.progress == "always" or (
        settings.progress == "auto" and sys.stderr.isatty()
    )
    with Progress(enabled=show_progress) as progress:
        try:
            if settings.source == "fs":
                target_repo = str(settings.path.resolve())

                def scan(
                    already_done: AlreadyDone | None, covered: Mapping[str, str]
                ) -> ScanResult:
                    from leakmesh.runtime.scan_fs import LocalScanOptions, scan_fs

                    return scan_fs(
                        settings.path,
                        engine=engine,
                        options=LocalScanOptions(pool=settings.pool, source=settings.content),
                        on_findings=emit,
                        on_progress=progress.update,
                        already_done=already_done,
                    )

                tips: dict[str, str] | None = None
            else:
                repo = open_repository(settings.path)
                target_repo = str(repo.git_dir.resolve())
                whole_history = settings.history == HistoryOptions() and not settings.staged
                # The ref tips now: with a store, the walk starts where the last one ended.
                tips = ref_tips(repo) if whole_history and settings.store else None

                def scan(
                    already_done: AlreadyDone | None, covered: Mapping[str, str]
                ) -> ScanResult:
                    from leakmesh.runtime.scan_git import (
                        GitScanOptions,
                        scan_git,
                        scan_git_since,
                        scan_staged,
                    )

                    options = GitScanOptions(
                        pool=settings.pool, history=settings.history, content=settings.content
                    )
                    if settings.staged:
                        run = scan_staged
                    elif tips is not None:
                        run = partial(scan_git_since, covered=covered)
                    else:
                        run = scan_git
                    return run(
                        repo,
                        engine=engine,
                        options=options,
                        on_findings=emit,
                        on_progress=progress.update,
                        already_done=already_done,
                    )

            if settings.store is None:
                result = scan(None, {})
            else:
                policy = engine.policy_hash(settings.content.policy_options())
                target = StoreTarget(settings.tenant, settings.source, target_repo, policy)
                result = asyncio.run(_scan_with_store(settings, target, scan, tips))
        except GitError as exc:
            raise ConfigError(str(exc)) from None
        except StoreError as exc:
            raise ConfigError(str(exc)) from None
    kept = [f for f in result.findings if keep(f)]
    result = replace(result, findings=kept, suppressed=len(result.findings) - len(kept))
    result.stats.findings_emitted = len(kept)
    return result


async def _scan_with_store(
    settings: ScanSettings,
    target: StoreTarget,
    scan: IncrementalScan,
    tips: dict[str, str] | None,
) -> ScanResult:
    dsn = settings.store
    assert dsn is not None
    async with open_stores(
        findings=dsn, ledger=dsn, frontier=dsn, policy=settings.schema_policy
    ) as stores:
        result, counts = await scan_with_store(stores, target, scan, frontier_tips=tips)
    log_event(
        "store.persisted",
        store=redact(dsn),
        findings_new=counts.findings,
        occurrences_new=counts.occurrences,
        observations_new=counts.observations,
        ledger_marked=len(result.outcomes),
    )
    return result


def run(args: argparse.Namespace) -> int:
    environ = os.environ
    settings = resolve_scan_settings(args, environ)
    engine = build_engine(resolve_engine_settings(args, environ))
    with open_output(settings.output) as stream:
        streaming = settings.format == "jsonl"

        def stream_findings(batch: list[Finding]) -> None:
            formats.write_jsonl(batch, stream, show_secrets=settings.show_secrets)

        result = execute_scan(
            settings,
            engine=engine,
            on_findings=stream_findings if streaming else None,
        )
        if settings.format == "json":
            formats.write_json(result, stream, show_secrets=settings.show_secrets)
        elif settings.format == "sarif":
            repository = settings.path.resolve().as_uri() if settings.source == "git" else None
            sarif.write_sarif(result, stream, ruleset=engine.ruleset, repository_uri=repository)
        elif settings.format == "csv":
            formats.write_csv(result, stream, show_secrets=settings.show_secrets)
        elif settings.format == "text":
            color = settings.output is None and stream.isatty() and "NO_COLOR" not in environ
            formats.write_text(result, stream, show_secrets=settings.show_secrets, color=color)
    stats = result.stats
    git_fields: dict[str, object] = {}
    if stats.commits_walked is not None:
        git_fields["commits_walked"] = stats.commits_walked
    if stats.blobs_scanned is not None:
        git_fields["blobs_scanned"] = stats.blobs_scanned
    log_event(
        "scan.summary",
        source=settings.source,
        items_scanned=stats.items_scanned,
        bytes_scanned=stats.bytes_scanned,
        findings_emitted=stats.findings_emitted,
        findings_suppressed=result.suppressed,
        items_skipped=sum(stats.items_skipped.values()),
        duration_s=round(stats.duration_s, 3),
        throughput_mib_s=round(stats.throughput_mib_s(), 2),
        **git_fields,
    )
    return EXIT_FINDINGS if result.findings else EXIT_CLEAN
