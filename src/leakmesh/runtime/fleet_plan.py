"""What a fleet worker is told (`WorkerPlan`) and what it reports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from msgspec import Struct, field

from leakmesh.coordination.models import (
    ShardLease,
)
from leakmesh.ops.retry import RetryPolicy
from leakmesh.runtime.scan_fs import LocalScanOptions
from leakmesh.runtime.scan_git import GitScanOptions
from leakmesh.runtime.shard_pages import Page, PageBudget

ETCD_RETRY = RetryPolicy(cap_s=60.0)
"""How a worker waits for etcd to come back: SPEC §8's policy, capped at a
minute instead of an hour so an idle fleet resumes soon after an outage."""

STORE_RETRY = RetryPolicy(cap_s=60.0)
"""How a worker waits for a lost database to come back (the same policy)."""

EventLog = Callable[..., None]
"""``log(event_name, **fields)``: the worker's structured log."""
PageCommitted = Callable[[ShardLease, Page], None]
"""Told of each page once it is committed (the worker's telemetry)."""


class WorkerPlan(Struct, frozen=True):
    run_id: int
    worker_id: int
    tenant: str
    policy_hash: str
    lease_ttl_s: int = 10
    poll_interval_s: float = 1.0
    exit_when_done: bool = True
    budget: PageBudget = field(default_factory=PageBudget)
    fs: LocalScanOptions = field(default_factory=LocalScanOptions)
    git: GitScanOptions = field(default_factory=GitScanOptions)
    mirror_root: Path | None = None
    fs_root: Path | None = None
    """Where this worker finds a filesystem run's tree, when not at the recorded path."""
    etcd_retry: RetryPolicy = ETCD_RETRY
    store_retry: RetryPolicy = STORE_RETRY


class WorkerReport(Struct):
    leases_seen: int = 0
    shards_scanned: int = 0
    pages_committed: int = 0
    items_committed: int = 0
    bytes_committed: int = 0
    findings_committed: int = 0
    stale_writes_rejected: int = 0
    leases_lost: int = 0
