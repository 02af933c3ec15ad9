"""The coordinator contract: the in-memory and the etcd coordinators both run it.

A backend test module provides a `coordination` fixture: a `CoordinationKit` with a
fresh coordinator (its own namespace) and a way to let time pass (the in-memory
clock moves; etcd's real time is waited out).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import pytest

from leakmesh.coordination.errors import LeaseLost, RunExists, UnknownRun
from leakmesh.coordination.models import (
    Progress,
    RunSpec,
    ShardSpec,
    ShardState,
    SourceKind,
)
from leakmesh.coordination.protocols import Coordinator

TTL_S = 2


@dataclass
class CoordinationKit:
    coordinator: Callable[[], Awaitable[Coordinator]]
    let_pass: Callable[[float], Awaitable[None]]


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def a_run(run_id: int = 1) -> RunSpec:
    return RunSpec(
        run_id=run_id,
        tenant="ab" * 32,
        policy_hash="cd" * 32,
        source=SourceKind.FS,
        target="/srv/tree",
        created_at="2026-11-22T00:00:00+00:00",
    )


def shards(n: int) -> list[ShardSpec]:
    bounds = ["", *(f"k{i:02d}" for i in range(1, n)), ""]
    return [ShardSpec(f"{i:05d}", "/srv/tree", bounds[i], bounds[i + 1]) for i in range(n)]


class CoordinatorContract:
    def test_runs_are_created_once_and_listed(self, coordination: CoordinationKit) -> None:
        async def scenario() -> None:
            coordinator = await coordination.coordinator()
            await coordinator.create_run(a_run(1), shards(3))
            await coordinator.create_run(a_run(2), shards(1))
            with pytest.raises(RunExists):
                await coordinator.create_run(a_run(1), shards(1))
            with pytest.raises(UnknownRun):
                await coordinator.get_run(9)
            with pytest.raises(UnknownRun):
                await coordinator.list_shards(9)
            assert await coordinator.get_run(1) == a_run(1)
            assert [r.run_id for r in await coordinator.list_runs()] == [1, 2]
            listed = await coordinator.list_shards(1)
            assert [s.spec for s in listed] == shards(3)
            assert {(s.record.state, s.record.fence, s.owner) for s in listed} == {
                (ShardState.PENDING, 0, None)
            }
            await coordinator.close()

        run(scenario())

    def test_register_shards_leaves_existing_shards_alone(
        self, coordination: CoordinationKit
    ) -> None:
        async def scenario() -> None:
            coordinator = await coordination.coordinator()
            await coordinator.create_run(a_run(), shards(1))
            session = await coordinator.open_session(worker_id=1, ttl_s=TTL_S)
            lease = await session.acquire(1)
            assert lease is not None
            await coordinator.register_shards(1, [*shards(1), ShardSpec("00009", "/x")])
            listed = {s.spec.shard_id: s for s in await coordinator.list_shards(1)}
            assert listed["00000"].record.state is ShardState.ACTIVE
            assert listed["00009"].record.state is ShardState.PENDING
            await session.close()
            await coordinator.close()

        run(scenario())

    def test_acquire_hands_each_shard_to_one_worker_with_a_fence(
        self, coordination: CoordinationKit
    ) -> None:
        async def scenario() -> None:
            coordinator = await coordination.coordinator()
            await coordinator.create_run(a_run(), shards(3))
            sessions = [
                await coordinator.open_session(worker_id=w, ttl_s=TTL_S) for w in range(1, 6)
            ]
            leases = await asyncio.gather(*(s.acquire(1) for s in sessions))
            taken = [lease for lease in leases if lease is not None]
            while len(taken) < 3:  # lost races are retried by a worker's next poll
                extra = await sessions[len(taken)].acquire(1)
                assert extra is not None
                taken.append(extra)
            assert sorted(lease.spec.shard_id for lease in taken) == ["00000", "00001", "00002"]
            assert {lease.fence for lease in taken} == {1}
            assert all([await s.acquire(1) is None for s in sessions])
            owners = {s.spec.shard_id: s.owner for s in await coordinator.list_shards(1)}
            assert owners == {lease.spec.shard_id: lease.worker_id for lease in taken}
            for session in sessions:
                await session.close()
            await coordinator.close()

        run(scenario())

    def test_checkpoint_release_and_resume_from_the_cursor(
        self, coordination: CoordinationKit
    ) -> None:
        async def scenario() -> None:
            coordinator = await coordination.coordinator()
            await coordinator.create_run(a_run(), shards(1))
            one = await coordinator.open_session(worker_id=1, ttl_s=TTL_S)
            lease = await one.acquire(1)
            assert lease is not None and lease.cursor == ""
            await one.checkpoint(lease, cursor="src/a.py", progress=Progress(3, 300, 1))
            [status] = await coordinator.list_shards(1)
            assert (status.record.cursor, status.record.progress) == (
                "src/a.py",
                Progress(3, 300, 1),
            )
            await one.release(lease)
            [status] = await coordinator.list_shards(1)
            assert (status.record.state, status.owner) == (ShardState.PENDING, None)
            with pytest.raises(LeaseLost):
                await one.checkpoint(lease, cursor="src/b.py", progress=Progress())
            two = await coordinator.open_session(worker_id=2, ttl_s=TTL_S)
            again = await two.acquire(1)
            assert again is not None
            assert (again.cursor, again.fence) == ("src/a.py", 2)
            await two.complete(again, progress=Progress(5, 500, 1))
            [status] = await coordinator.list_shards(1)
            assert (status.record.state, status.owner, status.record.attempts) == (
                ShardState.DONE,
                None,
                2,
            )
            assert await two.acquire(1) is None
            await one.close()
            await two.close()
            await coordinator.close()

        run(scenario())

    def test_parked_shards_are_not_acquired(self, coordination: CoordinationKit) -> None:
        async def scenario() -> None:
            coordinator = await coordination.coordinator()
            await coordinator.create_run(a_run(), shards(1))
            session = await coordinator.open_session(worker_id=1, ttl_s=TTL_S)
            lease = await session.acquire(1)
            assert lease is not None
            await session.park(lease, reason="repository unreachable")
            [status] = await coordinator.list_shards(1)
            assert (status.record.state, status.record.reason) == (
                ShardState.PARKED,
                "repository unreachable",
            )
            assert await session.acquire(1) is None
            await session.close()
            await coordinator.close()

        run(scenario())

    def test_a_closed_session_loses_its_shards_and_its_writes_are_rejected(
        self, coordination: CoordinationKit
    ) -> None:
        async def scenario() -> None:
            coordinator = await coordination.coordinator()
            await coordinator.create_run(a_run(), shards(1))
            old = await coordinator.open_session(worker_id=1, ttl_s=TTL_S)
            stale = await old.acquire(1)
            assert stale is not None
            await old.close()
            new = await coordinator.open_session(worker_id=2, ttl_s=TTL_S)
            current = await new.acquire(1)
            assert current is not None and current.fence == stale.fence + 1
            for write in (
                old.checkpoint(stale, cursor="z", progress=Progress()),
                old.complete(stale, progress=Progress()),
                old.release(stale),
                old.park(stale, reason="x"),
            ):
                with pytest.raises(LeaseLost):
                    await write
            [status] = await coordinator.list_shards(1)
            assert (status.record.state, status.record.cursor, status.owner) == (
                ShardState.ACTIVE,
                "",
                2,
            )
            await new.close()
            await coordinator.close()

        run(scenario())

    def test_an_expired_lease_frees_the_shard_and_fences_the_old_owner(
        self, coordination: CoordinationKit
    ) -> None:
        async def scenario() -> None:
            coordinator = await coordination.coordinator()
            await coordinator.create_run(a_run(), shards(2))
            paused = await coordinator.open_session(worker_id=1, ttl_s=TTL_S)
            alive = await coordinator.open_session(worker_id=2, ttl_s=TTL_S)
            stale = await paused.acquire(1)
            mine = await alive.acquire(1)
            assert stale is not None and mine is not None
            for _ in range(5):  # the live worker keeps renewing at TTL/3; the paused one cannot
                await coordination.let_pass(TTL_S / 3)
                await alive.renew()
            with pytest.raises(LeaseLost):
                await paused.renew()
            taken = await alive.acquire(1)
            assert taken is not None and taken.spec == stale.spec
            assert taken.fence == stale.fence + 1
            with pytest.raises(LeaseLost):
                await paused.checkpoint(stale, cursor="late", progress=Progress())
            await alive.checkpoint(mine, cursor="still-mine", progress=Progress())
            await alive.close()
            await coordinator.close()

        run(scenario())

    def test_a_shard_whose_owner_vanished_is_taken_before_pending_ones(
        self, coordination: CoordinationKit
    ) -> None:
        async def scenario() -> None:
            coordinator = await coordination.coordinator()
            await coordinator.create_run(a_run(), shards(6))
            dead = await coordinator.open_session(worker_id=1, ttl_s=TTL_S)
            orphan = await dead.acquire(1)
            assert orphan is not None
            await dead.close()
            for worker_id in range(2, 8):
                survivor = await coordinator.open_session(worker_id=worker_id, ttl_s=TTL_S)
                taken = await survivor.acquire(1)
                assert taken is not None and taken.spec == orphan.spec
                await survivor.close()  # and it is orphaned again
            await coordinator.close()

        run(scenario())

    def test_a_run_is_complete_once_every_shard_is_done_or_parked(
        self, coordination: CoordinationKit
    ) -> None:
        async def scenario() -> None:
            coordinator = await coordination.coordinator()
            await coordinator.create_run(a_run(1), shards(3))
            await coordinator.create_run(a_run(2), [])
            with pytest.raises(UnknownRun):
                await coordinator.is_complete(9)
            assert not await coordinator.is_complete(2), "a run without shards is not complete"
            session = await coordinator.open_session(worker_id=1, ttl_s=TTL_S)
            first, second, third = [await session.acquire(1) for _ in range(3)]
            assert first and second and third
            assert await session.acquire(1) is None
            await session.complete(first, progress=Progress(items=1))
            await session.park(second, reason="unreachable")
            assert not await coordinator.is_complete(1), "one shard still active"
            await session.release(third)
            assert not await coordinator.is_complete(1), "one shard pending again"
            again = await session.acquire(1)
            assert again is not None and again.spec == third.spec
            assert await session.acquire(1) is None, "done and parked shards stay closed"
            await session.complete(again, progress=Progress(items=1))
            assert await coordinator.is_complete(1)
            states = {s.spec.shard_id: s.record.state for s in await coordinator.list_shards(1)}
            assert states == {
                first.spec.shard_id: ShardState.DONE,
                second.spec.shard_id: ShardState.PARKED,
                third.spec.shard_id: ShardState.DONE,
            }
            await session.close()
            await coordinator.close()

        run(scenario())
