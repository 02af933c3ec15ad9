"""In-memory datastore for unit tests; passes the same contract suite as the
real ones. Never used on a production path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from msgspec import Struct

from leakmesh.store.errors import StaleFence, StoreError
from leakmesh.store.models import (
    FindingQuery,
    LedgerStatus,
    ObservationContext,
    OccurrenceRecord,
    ShardFence,
    StoredFinding,
    TriageEvent,
    TriageStatus,
    UpsertCounts,
    now,
)


class _Finding(Struct):
    record: OccurrenceRecord
    status: TriageStatus
    first_seen: str
    last_seen: str


class MemoryDatastore:
    """Every role in dicts; for unit tests (the same contract suite as the real ones)."""

    def __init__(self) -> None:
        self._runs: dict[int, str] = {}
        self._findings: dict[tuple[str, str], _Finding] = {}
        self._occurrences: dict[OccurrenceRecord, int] = {}
        self._observations: set[tuple[int, int, str]] = set()
        self._observed_runs: dict[int, set[int]] = {}
        self._history: dict[tuple[str, str], list[TriageEvent]] = {}
        self._ledger: dict[tuple[str, str, str], LedgerStatus] = {}
        self._frontier: dict[tuple[str, str], dict[str, str]] = {}
        self._fences: dict[tuple[str, int, str], int] = {}

    async def check(self) -> None:
        return None

    async def hold_fence(self, fence: ShardFence) -> None:
        self._hold(fence)

    def _hold(self, fence: ShardFence | None) -> None:
        if fence is None:
            return
        key = (fence.tenant, fence.run_id, fence.shard_id)
        if self._fences.get(key, 0) > fence.epoch:
            raise StaleFence.of(fence)
        self._fences[key] = fence.epoch

    async def start_run(self, *, tenant: str, policy_hash: str, source: str, target: str) -> int:
        run_id = len(self._runs) + 1
        self._runs[run_id] = tenant
        return run_id

    async def finish_run(self, run_id: int) -> None:
        if run_id not in self._runs:
            raise StoreError(f"unknown run {run_id}")

    async def upsert(
        self, occurrences: Sequence[OccurrenceRecord], context: ObservationContext
    ) -> UpsertCounts:
        self._hold(context.shard)
        new_findings = new_occurrences = new_observations = 0
        stamp = now()
        for record in occurrences:
            key = (record.tenant, record.fingerprint)
            finding = self._findings.get(key)
            if finding is None:
                self._findings[key] = _Finding(record, TriageStatus.OPEN, stamp, stamp)
                new_findings += 1
            else:
                finding.last_seen = stamp
            occurrence_id = self._occurrences.get(record)
            if occurrence_id is None:
                occurrence_id = self._occurrences[record] = len(self._occurrences) + 1
                new_occurrences += 1
            observation = (occurrence_id, context.run_id, context.policy_hash)
            if observation not in self._observations:
                self._observations.add(observation)
                self._observed_runs.setdefault(occurrence_id, set()).add(context.run_id)
                new_observations += 1
        return UpsertCounts(new_findings, new_occurrences, new_observations)

    def _matches(self, occurrence: OccurrenceRecord, oid: int, query: FindingQuery) -> bool:
        if query.repo is not None and occurrence.repo != query.repo:
            return False
        return query.run_id is None or query.run_id in self._observed_runs.get(oid, set())

    async def list_findings(self, query: FindingQuery) -> list[StoredFinding]:
        counts: dict[tuple[str, str], int] = {}
        for occurrence, oid in self._occurrences.items():
            if occurrence.tenant == query.tenant and self._matches(occurrence, oid, query):
                key = (occurrence.tenant, occurrence.fingerprint)
                counts[key] = counts.get(key, 0) + 1
        out = []
        for key, count in sorted(counts.items()):
            finding = self._findings[key]
            record = finding.record
            if query.status is not None and finding.status is not query.status:
                continue
            if query.rule_id is not None and record.rule_id != query.rule_id:
                continue
            out.append(
                StoredFinding(
                    tenant=record.tenant,
                    fingerprint=record.fingerprint,
                    rule_id=record.rule_id,
                    rule_name=record.rule_name,
                    confidence=record.confidence,
                    preview=record.preview,
                    status=finding.status,
                    first_seen=finding.first_seen,
                    last_seen=finding.last_seen,
                    occurrences=count,
                )
            )
        return out[: query.limit]

    async def occurrences(self, tenant: str, fingerprint: str) -> list[OccurrenceRecord]:
        found = [o for o in self._occurrences if (o.tenant, o.fingerprint) == (tenant, fingerprint)]
        return sorted(found, key=lambda o: (o.repo, o.path, o.line, o.column, o.commit))

    async def triage(
        self, tenant: str, fingerprint: str, status: TriageStatus, *, note: str = ""
    ) -> None:
        finding = self._findings.get((tenant, fingerprint))
        if finding is None:
            raise StoreError(f"no finding with fingerprint {fingerprint}")
        finding.status = status
        event = TriageEvent(tenant, fingerprint, status, note, now())
        self._history.setdefault((tenant, fingerprint), []).append(event)

    async def triage_history(self, tenant: str, fingerprint: str) -> list[TriageEvent]:
        return list(self._history.get((tenant, fingerprint), []))

    async def mark(
        self,
        tenant: str,
        policy_hash: str,
        statuses: Mapping[str, LedgerStatus],
        *,
        fence: ShardFence | None = None,
    ) -> None:
        self._hold(fence)
        for object_id, status in statuses.items():
            key = (tenant, policy_hash, object_id)
            current = self._ledger.get(key)
            if current is None or status > current:
                self._ledger[key] = status

    async def lookup(
        self, tenant: str, policy_hash: str, object_ids: Sequence[str]
    ) -> dict[str, LedgerStatus]:
        found = {}
        for object_id in object_ids:
            status = self._ledger.get((tenant, policy_hash, object_id))
            if status is not None:
                found[object_id] = status
        return found

    async def tips(self, tenant: str, repo: str) -> dict[str, str]:
        return dict(self._frontier.get((tenant, repo), {}))

    async def advance(
        self,
        tenant: str,
        repo: str,
        tips: Mapping[str, str],
        *,
        fence: ShardFence | None = None,
    ) -> None:
        self._hold(fence)
        self._frontier.setdefault((tenant, repo), {}).update(tips)

    async def close(self) -> None:
        return None
