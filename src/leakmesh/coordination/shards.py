"""Pure helpers both coordinators share: which shards to try and in what order,
what acquiring does to a shard's record, lease tokens, run completion."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from msgspec.structs import replace

from leakmesh.coordination.models import ShardRecord, ShardState

OPEN_STATES = (ShardState.PENDING, ShardState.ACTIVE)
"""A shard in one of these may still be taken; a run is complete when none is."""


def acquisition_order(shard_ids: Sequence[str], worker_id: int) -> list[str]:
    """Every shard once, starting at a worker-dependent offset, so that workers
    starting together try different shards first instead of racing for one."""
    if not shard_ids:
        return []
    start = (worker_id * 7919) % len(shard_ids)
    return [*shard_ids[start:], *shard_ids[:start]]


def candidates(
    states: Mapping[str, ShardState], owned: Collection[str], worker_id: int
) -> list[str]:
    """The shards `worker_id` may take, in the order it tries them: those whose
    owner vanished first (a dead worker's shard is taken over by the next worker
    looking, not after the whole run), then the pending ones."""
    order = acquisition_order(sorted(states), worker_id)
    orphaned = [s for s in order if states[s] is ShardState.ACTIVE and s not in owned]
    return orphaned + [s for s in order if states[s] is ShardState.PENDING]


def claimed(record: ShardRecord, worker_id: int) -> ShardRecord:
    """The record of a shard `worker_id` just acquired: active under the next fence."""
    return replace(
        record,
        state=ShardState.ACTIVE,
        fence=record.fence + 1,
        attempts=record.attempts + 1,
        worker_id=worker_id,
    )


def run_complete(records: Iterable[ShardRecord]) -> bool:
    """Every shard done or parked (a run without shards is not complete)."""
    states = [record.state for record in records]
    return bool(states) and not any(s in OPEN_STATES for s in states)


def lease_token(worker_id: int, session_id: int, fence: int) -> str:
    return f"worker={worker_id};session={session_id:x};fence={fence}"
