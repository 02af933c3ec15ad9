"""Pure helpers both coordinators share: acquisition order and lease tokens."""

from __future__ import annotations

from collections.abc import Sequence


def acquisition_order(shard_ids: Sequence[str], worker_id: int) -> list[str]:
    """Every shard once, starting at a worker-dependent offset, so that workers
    starting together try different shards first instead of racing for one."""
    if not shard_ids:
        return []
    start = (worker_id * 7919) % len(shard_ids)
    return [*shard_ids[start:], *shard_ids[:start]]


def orphans_first(shard_ids: Sequence[str], orphaned: set[str]) -> list[str]:
    """Shards whose owner vanished before pending ones: a dead worker's shard is
    taken over by the next worker looking, instead of after the whole run."""
    return [s for s in shard_ids if s in orphaned] + [s for s in shard_ids if s not in orphaned]


def lease_token(worker_id: int, session_id: int, fence: int) -> str:
    return f"worker={worker_id};session={session_id:x};fence={fence}"
