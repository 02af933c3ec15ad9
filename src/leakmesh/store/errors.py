"""Store errors: driver errors are translated into these at the boundary, with
DSNs redacted."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leakmesh.store.models import ShardFence


class StoreError(Exception):
    """A datastore operation failed; the message is one line with no secrets."""


class SchemaError(StoreError):
    """The schema is missing, behind, ahead, or its recorded checksums differ."""


class StoreUnavailable(StoreError):
    """The datastore cannot be reached."""


class StaleFence(StoreError):
    """A write carried a shard fence lower than the one recorded: its worker lost
    the shard to another, so nothing of the write was applied."""

    @classmethod
    def of(cls, fence: ShardFence) -> StaleFence:
        return cls(f"stale fence {fence.epoch} for shard {fence.shard_id} of run {fence.run_id}")
