"""Counters of one scan, and its result."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from msgspec import Struct, field

if TYPE_CHECKING:
    from leakmesh.engine.finding import Finding
    from leakmesh.sources.items import Skipped
    from leakmesh.store.models import LedgerStatus


class ScanStats(Struct):
    items_scanned: int = 0
    bytes_scanned: int = 0
    findings_emitted: int = 0
    items_skipped: Counter[str] = field(default_factory=Counter)
    duration_s: float = 0.0
    commits_walked: int | None = None
    blobs_scanned: int | None = None

    def record_skip(self, skipped: Skipped) -> None:
        self.items_skipped[skipped.reason.value] += 1

    def throughput_mib_s(self) -> float:
        return self.bytes_scanned / (1024 * 1024) / self.duration_s if self.duration_s else 0.0

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "items_scanned": self.items_scanned,
            "bytes_scanned": self.bytes_scanned,
            "findings_emitted": self.findings_emitted,
            "items_skipped": dict(sorted(self.items_skipped.items())),
            "duration_s": round(self.duration_s, 3),
            "throughput_mib_s": round(self.throughput_mib_s(), 2),
        }
        if self.commits_walked is not None:
            out["commits_walked"] = self.commits_walked
        if self.blobs_scanned is not None:
            out["blobs_scanned"] = self.blobs_scanned
        return out


class ScanResult(Struct):
    findings: list[Finding]
    stats: ScanStats
    skipped: list[Skipped]
    policy_hash: str
    suppressed: int = 0
    """Findings dropped by the baseline."""
    outcomes: dict[str, LedgerStatus] = field(default_factory=dict)
    """Top-level object id → how its scan ended (for the done-ledger)."""


def finding_sort_key(finding: Finding) -> tuple[str, int, int, str]:
    loc = finding.location
    return (loc.path, loc.line, loc.column, finding.rule_id)
