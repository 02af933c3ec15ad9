"""The datastore contract: every implementation (memory, SQLite, PostgreSQL) runs it.

A backend test module provides a `store_factory` fixture: an async callable that
returns a fresh, migrated datastore.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
from msgspec.structs import replace

from leakmesh.store.errors import StaleFence, StoreError
from leakmesh.store.models import (
    FindingQuery,
    LedgerStatus,
    ObservationContext,
    OccurrenceRecord,
    ShardFence,
    TriageStatus,
)
from leakmesh.store.protocols import Datastore

StoreFactory = Callable[[], Awaitable[Datastore]]
TENANT = "ab" * 32


def occurrence(n: int, **changes: Any) -> OccurrenceRecord:
    base = OccurrenceRecord(
        tenant=TENANT,
        fingerprint=f"{n:032x}",
        rule_id="github-pat-classic",
        rule_name="GitHub personal access token (classic)",
        confidence="high",
        preview="ghp_********",
        repo="repo-a",
        object_id=f"{n:040x}",
        start=10,
        end=50,
        path=f"src/file{n}.py",
        line=3,
        column=7,
    )
    return replace(base, **changes)


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


class StoreContract:
    def test_upsert_is_idempotent_at_every_level(self, store_factory: StoreFactory) -> None:
        async def scenario() -> None:
            store = await store_factory()
            run_id = await store.start_run(
                tenant=TENANT, policy_hash="p" * 64, source="fs", target="."
            )
            context = ObservationContext(run_id=run_id, policy_hash="p" * 64)
            records = [occurrence(1), occurrence(2), occurrence(1, path="other.py")]
            first = await store.upsert(records, context)
            again = await store.upsert(records, context)
            assert (first.findings, first.occurrences, first.observations) == (2, 3, 3)
            assert (again.findings, again.occurrences, again.observations) == (0, 0, 0)
            second_run = await store.start_run(
                tenant=TENANT, policy_hash="p" * 64, source="fs", target="."
            )
            later = await store.upsert(records, replace(context, run_id=second_run))
            assert (later.findings, later.occurrences, later.observations) == (0, 0, 3)
            findings = await store.list_findings(FindingQuery(tenant=TENANT))
            assert [(f.fingerprint, f.occurrences) for f in findings] == [
                (f"{1:032x}", 2),
                (f"{2:032x}", 1),
            ]
            await store.close()

        run(scenario())

    def test_queries_filter_by_rule_repo_run_and_status(self, store_factory: StoreFactory) -> None:
        async def scenario() -> None:
            store = await store_factory()
            r1 = await store.start_run(tenant=TENANT, policy_hash="p", source="fs", target=".")
            r2 = await store.start_run(tenant=TENANT, policy_hash="p", source="fs", target=".")
            await store.upsert(
                [occurrence(1), occurrence(2, rule_id="slack-bot-token")],
                ObservationContext(r1, "p"),
            )
            await store.upsert([occurrence(3, repo="repo-b")], ObservationContext(r2, "p"))
            by_rule = await store.list_findings(
                FindingQuery(tenant=TENANT, rule_id="slack-bot-token")
            )
            assert [f.fingerprint for f in by_rule] == [f"{2:032x}"]
            by_repo = await store.list_findings(FindingQuery(tenant=TENANT, repo="repo-b"))
            assert [f.fingerprint for f in by_repo] == [f"{3:032x}"]
            by_run = await store.list_findings(FindingQuery(tenant=TENANT, run_id=r1))
            assert {f.fingerprint for f in by_run} == {f"{1:032x}", f"{2:032x}"}
            await store.triage(TENANT, f"{1:032x}", TriageStatus.FALSE_POSITIVE, note="test key")
            fps = await store.list_findings(
                FindingQuery(tenant=TENANT, status=TriageStatus.FALSE_POSITIVE)
            )
            assert [f.fingerprint for f in fps] == [f"{1:032x}"]
            assert await store.list_findings(FindingQuery(tenant="cd" * 32)) == []
            await store.close()

        run(scenario())

    def test_triage_keeps_history(self, store_factory: StoreFactory) -> None:
        async def scenario() -> None:
            store = await store_factory()
            r1 = await store.start_run(tenant=TENANT, policy_hash="p", source="fs", target=".")
            await store.upsert([occurrence(1)], ObservationContext(r1, "p"))
            fp = f"{1:032x}"
            await store.triage(TENANT, fp, TriageStatus.IGNORED, note="vendored")
            await store.triage(TENANT, fp, TriageStatus.OPEN, note="reopened")
            history = await store.triage_history(TENANT, fp)
            assert [(e.status, e.note) for e in history] == [
                (TriageStatus.IGNORED, "vendored"),
                (TriageStatus.OPEN, "reopened"),
            ]
            [finding] = await store.list_findings(FindingQuery(tenant=TENANT))
            assert finding.status is TriageStatus.OPEN
            with pytest.raises(StoreError):
                await store.triage(TENANT, "f" * 32, TriageStatus.RESOLVED)
            await store.close()

        run(scenario())

    def test_occurrences_round_trip(self, store_factory: StoreFactory) -> None:
        async def scenario() -> None:
            store = await store_factory()
            r1 = await store.start_run(tenant=TENANT, policy_hash="p", source="git", target="repo")
            record = occurrence(
                4,
                commit="c" * 40,
                author_name="Ann",
                author_email="ann@example.org",
                commit_date="2024-01-01T00:00:00Z",
                decoded="base64",
            )
            await store.upsert(
                [record], ObservationContext(r1, "p", ShardFence(TENANT, r1, "s0", 3))
            )
            assert await store.occurrences(TENANT, record.fingerprint) == [record]
            await store.finish_run(r1)
            await store.close()

        run(scenario())

    def test_ledger_moves_only_upward(self, store_factory: StoreFactory) -> None:
        async def scenario() -> None:
            store = await store_factory()
            await store.mark(
                TENANT,
                "p",
                {"a": LedgerStatus.SCANNED_WITH_FINDINGS, "b": LedgerStatus.FAILED_RETRYABLE},
            )
            await store.mark(
                TENANT, "p", {"a": LedgerStatus.SCANNED_CLEAN, "b": LedgerStatus.SKIPPED}
            )
            found = await store.lookup(TENANT, "p", ["a", "b", "c"])
            assert found == {"a": LedgerStatus.SCANNED_WITH_FINDINGS, "b": LedgerStatus.SKIPPED}
            assert await store.lookup(TENANT, "other-policy", ["a"]) == {}
            many = {f"{i:040x}": LedgerStatus.SCANNED_CLEAN for i in range(1200)}
            await store.mark(TENANT, "p", many)
            assert len(await store.lookup(TENANT, "p", list(many))) == 1200
            # Ids travel as text in some backends: separators and quotes stay data.
            odd = {"a,b": LedgerStatus.SKIPPED, 'q"}': LedgerStatus.SCANNED_CLEAN, "é\\n": 3}
            await store.mark(TENANT, "p", {k: LedgerStatus(v) for k, v in odd.items()})
            assert await store.lookup(TENANT, "p", [*odd, "a", "b", "a,b,c"]) == {
                **{k: LedgerStatus(v) for k, v in odd.items()},
                "a": LedgerStatus.SCANNED_WITH_FINDINGS,
                "b": LedgerStatus.SKIPPED,
            }
            await store.close()

        run(scenario())

    def test_frontier_per_ref(self, store_factory: StoreFactory) -> None:
        async def scenario() -> None:
            store = await store_factory()
            assert await store.tips(TENANT, "repo") == {}
            await store.advance(
                TENANT, "repo", {"refs/heads/main": "a" * 40, "refs/tags/v1": "b" * 40}
            )
            await store.advance(TENANT, "repo", {"refs/heads/main": "c" * 40})
            assert await store.tips(TENANT, "repo") == {
                "refs/heads/main": "c" * 40,
                "refs/tags/v1": "b" * 40,
            }
            assert await store.tips(TENANT, "other") == {}
            await store.close()

        run(scenario())

    def test_fenced_writes_reject_a_lower_epoch_whole(self, store_factory: StoreFactory) -> None:
        async def scenario() -> None:
            store = await store_factory()
            run_id = await store.start_run(tenant=TENANT, policy_hash="p", source="git", target="r")
            old = ShardFence(TENANT, run_id, "0001", 1)
            new = replace(old, epoch=2)
            context = ObservationContext(run_id, "p", old)
            await store.upsert([occurrence(1)], context)
            await store.mark(TENANT, "p", {"a": LedgerStatus.SCANNED_CLEAN}, fence=old)
            await store.hold_fence(new)  # the successor acquires the shard
            with pytest.raises(StaleFence):
                await store.upsert([occurrence(2)], context)
            with pytest.raises(StaleFence):
                await store.upsert([], context)
            with pytest.raises(StaleFence):
                await store.mark(TENANT, "p", {"b": LedgerStatus.SCANNED_CLEAN}, fence=old)
            with pytest.raises(StaleFence):
                await store.advance(TENANT, "r", {"refs/heads/main": "c1"}, fence=old)
            with pytest.raises(StaleFence):
                await store.hold_fence(old)
            # Nothing of a rejected write was applied ...
            fingerprints = [f.fingerprint for f in await store.list_findings(FindingQuery(TENANT))]
            assert fingerprints == [f"{1:032x}"]
            assert await store.lookup(TENANT, "p", ["a", "b"]) == {"a": LedgerStatus.SCANNED_CLEAN}
            assert await store.tips(TENANT, "r") == {}
            # ... the current epoch writes, and other shards keep their own fences.
            await store.upsert([occurrence(2)], replace(context, shard=new))
            await store.advance(TENANT, "r", {"refs/heads/main": "c1"}, fence=new)
            await store.hold_fence(replace(old, shard_id="0002"))
            assert len(await store.list_findings(FindingQuery(TENANT))) == 2
            await store.close()

        run(scenario())
