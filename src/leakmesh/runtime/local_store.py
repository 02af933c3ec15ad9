"""Local scans with a datastore (``scan --store=DSN``): skip what the done-ledger
holds, persist what was found, remember where the history scan got to.

The scan runs in a thread (its workers are processes); the ledger questions it
asks while walking are answered on the event loop, where the store lives. After
the scan, writes follow the page-commit order: findings, then the ledger, then
the git frontier.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from msgspec import Struct

from leakmesh.runtime.stats import ScanResult, ScanStats
from leakmesh.store.models import ObservationContext, OccurrenceRecord, UpsertCounts

if TYPE_CHECKING:
    from leakmesh.engine.finding import Finding
    from leakmesh.runtime.scan_fs import AlreadyDone
    from leakmesh.runtime.stores import Stores

UPSERT_CHUNK = 5_000


class StoreTarget(Struct, frozen=True):
    tenant: str
    source: str
    """``fs`` or ``git``."""
    repo: str
    """What was scanned: an absolute directory or the repository's git dir."""
    policy_hash: str

    @property
    def frontier_key(self) -> str:
        # Tips scanned under one policy say nothing about another policy.
        return f"{self.repo}#policy={self.policy_hash[:16]}"


def occurrence_records(
    findings: Sequence[Finding], *, tenant: str, repo: str
) -> list[OccurrenceRecord]:
    records = []
    for finding in findings:
        loc = finding.location
        commit = loc.commit
        records.append(
            OccurrenceRecord(
                tenant=tenant,
                fingerprint=finding.fingerprint,
                rule_id=finding.rule_id,
                rule_name=finding.rule_name,
                confidence=finding.confidence.value,
                preview=finding.preview,
                repo=repo,
                object_id=loc.object_id or "",
                start=loc.start,
                end=loc.end,
                path=loc.path,
                line=loc.line,
                column=loc.column,
                commit=commit.commit if commit else "",
                author_name=commit.author_name if commit else "",
                author_email=commit.author_email if commit else "",
                commit_date=commit.date if commit else "",
                decoded=">".join(finding.decoded),
            )
        )
    return records


async def persist(
    stores: Stores, result: ScanResult, target: StoreTarget, *, run_id: int
) -> UpsertCounts:
    context = ObservationContext(run_id=run_id, policy_hash=target.policy_hash)
    records = occurrence_records(result.findings, tenant=target.tenant, repo=target.repo)
    totals = UpsertCounts(0, 0, 0)
    for start in range(0, len(records), UPSERT_CHUNK):
        counts = await stores.findings.upsert(records[start : start + UPSERT_CHUNK], context)
        totals = UpsertCounts(
            totals.findings + counts.findings,
            totals.occurrences + counts.occurrences,
            totals.observations + counts.observations,
        )
    await stores.ledger.mark(target.tenant, target.policy_hash, result.outcomes)
    return totals


def _unchanged_history(policy_hash: str) -> ScanResult:
    stats = ScanStats(commits_walked=0, blobs_scanned=0)
    return ScanResult(findings=[], stats=stats, skipped=[], policy_hash=policy_hash)


IncrementalScan = Callable[["AlreadyDone", Mapping[str, str]], ScanResult]
"""A scan given the done-ledger's answer and the ref tips an earlier history scan
under the same policy covered (empty for directories, or without a frontier)."""


async def scan_with_store(
    stores: Stores,
    target: StoreTarget,
    scan: IncrementalScan,
    *,
    frontier_tips: dict[str, str] | None = None,
) -> tuple[ScanResult, UpsertCounts]:
    """Run `scan` with the ledger gate, then persist. `frontier_tips`, when given,
    are the ref tips the history scan starts from: the tips recorded last time are
    handed to `scan`, and these recorded once everything else is. When the tips
    recorded cover them all, nothing new is reachable and `scan` is not called."""
    loop = asyncio.get_running_loop()
    covered: Mapping[str, str] = {}
    if frontier_tips is not None:
        covered = await stores.frontier.tips(target.tenant, target.frontier_key)
    run_id = await stores.findings.start_run(
        tenant=target.tenant,
        policy_hash=target.policy_hash,
        source=target.source,
        target=target.repo,
    )

    def already_done(object_ids: list[str]) -> set[str]:
        future = asyncio.run_coroutine_threadsafe(
            stores.ledger.lookup(target.tenant, target.policy_hash, object_ids), loop
        )
        return {oid for oid, status in future.result().items() if status.final}

    if frontier_tips is not None and set(covered.values()).issuperset(frontier_tips.values()):
        result = _unchanged_history(target.policy_hash)
    else:
        result = await asyncio.to_thread(scan, already_done, covered)
    counts = await persist(stores, result, target, run_id=run_id)
    if frontier_tips and frontier_tips != covered:
        await stores.frontier.advance(target.tenant, target.frontier_key, frontier_tips)
    await stores.findings.finish_run(run_id)
    return result, counts
