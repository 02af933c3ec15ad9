"""Value objects the stores exchange. No raw secret ever appears here: a finding is
its keyed fingerprint, its rule and a redacted preview."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum

from msgspec import Struct


def now() -> str:
    """The time stores write, as UTC ISO-8601 with microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


DEFAULT_TENANT = "0" * 64
"""The tenant of a local datastore when LEAKMESH_TENANT_ID is not set."""


class LedgerStatus(int, Enum):
    """Outcome of scanning one object under one policy; it only moves upward."""

    FAILED_RETRYABLE = 1
    FAILED_PERMANENT = 2
    SKIPPED = 3
    SCANNED_CLEAN = 4
    SCANNED_WITH_FINDINGS = 5

    @property
    def final(self) -> bool:
        """Done: a rescan under the same policy can skip the object."""
        return self is not LedgerStatus.FAILED_RETRYABLE


class TriageStatus(str, Enum):
    OPEN = "open"
    RESOLVED = "resolved"
    FALSE_POSITIVE = "false_positive"
    IGNORED = "ignored"


class OccurrenceRecord(Struct, frozen=True):
    """One finding at one place: an object, a byte span, a path and (history) a commit."""

    tenant: str
    fingerprint: str
    rule_id: str
    rule_name: str
    confidence: str
    preview: str
    repo: str
    object_id: str
    start: int
    end: int
    path: str
    line: int
    column: int
    commit: str = ""
    author_name: str = ""
    author_email: str = ""
    commit_date: str = ""
    decoded: str = ""

    def finding_columns(self) -> tuple[str, str, str, str, str, str]:
        """What the finding row holds: tenant, fingerprint, rule id and name,
        confidence, redacted preview."""
        return (
            self.tenant,
            self.fingerprint,
            self.rule_id,
            self.rule_name,
            self.confidence,
            self.preview,
        )

    def detail_columns(self) -> tuple[int, int, str, str, str, str]:
        """What the occurrence row holds beyond its key: line, column, commit
        author and date, the decoding chain."""
        return (
            self.line,
            self.column,
            self.author_name,
            self.author_email,
            self.commit_date,
            self.decoded,
        )


class ShardFence(Struct, frozen=True):
    """The fence a fleet worker writes under: its shard's epoch when it acquired it.

    Each database keeps one row per (tenant, run, shard) whose epoch only moves up; a
    write carrying a lower epoch than the row is rejected as a whole (`StaleFence`),
    so a worker that lost its lease cannot apply anything after its successor wrote.
    """

    tenant: str
    run_id: int
    shard_id: str
    epoch: int


class ObservationContext(Struct, frozen=True):
    """Which run saw the occurrences, under which policy and, in the fleet, which
    shard fence (local scans have none)."""

    run_id: int
    policy_hash: str
    shard: ShardFence | None = None

    @property
    def fence(self) -> int:
        return self.shard.epoch if self.shard is not None else 0


class StoredFinding(Struct, frozen=True):
    tenant: str
    fingerprint: str
    rule_id: str
    rule_name: str
    confidence: str
    preview: str
    status: TriageStatus
    first_seen: str
    last_seen: str
    occurrences: int


class TriageEvent(Struct, frozen=True):
    tenant: str
    fingerprint: str
    status: TriageStatus
    note: str
    at: str


class FindingQuery(Struct, frozen=True):
    tenant: str
    status: TriageStatus | None = None
    rule_id: str | None = None
    repo: str | None = None
    run_id: int | None = None
    limit: int = 10_000


class UpsertCounts(Struct, frozen=True):
    findings: int
    occurrences: int
    observations: int
