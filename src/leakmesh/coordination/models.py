"""Value objects of coordination: runs, shards, their state and the lease a worker
holds. They round-trip through JSON (the etcd values) with `to_json`/`from_json`."""

from __future__ import annotations

import json
from enum import Enum

from msgspec import Struct, field, to_builtins


class ShardState(str, Enum):
    PENDING = "pending"
    ACTIVE = "active"
    DONE = "done"
    PARKED = "parked"
    """Given up on (a permanent error): not acquired again until an operator acts."""


class SourceKind(str, Enum):
    FS = "fs"
    GIT = "git"


class RunSpec(Struct, frozen=True):
    run_id: int
    tenant: str
    policy_hash: str
    source: SourceKind
    target: str
    """What the run scans: a directory, or the repositories (one per line)."""
    created_at: str

    def to_json(self) -> bytes:
        return _dump(self)

    @classmethod
    def from_json(cls, raw: bytes) -> RunSpec:
        data = json.loads(raw)
        return cls(**{**data, "source": SourceKind(data["source"])})


def record_state(raw: bytes) -> ShardState:
    """The state of an encoded `ShardRecord`, without building the record."""
    return ShardState(json.loads(raw)["state"])


class ShardSpec(Struct, frozen=True):
    """A half-open key range ``[start, end)`` of one location; an empty bound is open.

    Filesystem shards range over relative paths under `location`; git shards over
    blob ids of the repository at `location` (a path or a URL).
    """

    shard_id: str
    location: str
    start: str = ""
    end: str = ""

    def contains(self, key: str) -> bool:
        return (not self.start or key >= self.start) and (not self.end or key < self.end)

    def may_hold_under(self, directory: str) -> bool:
        """Whether a key under `directory/` can fall in this shard: every such key
        lies in [directory + "/", directory + "0"), "0" being the byte after "/"."""
        return (not self.end or directory + "/" < self.end) and (
            not self.start or self.start < directory + "0"
        )

    def to_json(self) -> bytes:
        return _dump(self)

    @classmethod
    def from_json(cls, raw: bytes) -> ShardSpec:
        return cls(**json.loads(raw))


class Progress(Struct, frozen=True):
    items: int = 0
    bytes: int = 0
    findings: int = 0


class ShardRecord(Struct, frozen=True):
    """The mutable part of a shard, as stored: its state, fence and checkpoint."""

    state: ShardState = ShardState.PENDING
    fence: int = 0
    cursor: str = ""
    """Where a resumed scan starts: every key up to and including it is committed."""
    progress: Progress = field(default_factory=Progress)
    attempts: int = 0
    worker_id: int = 0
    """The last worker that acquired it."""
    reason: str = ""
    """Why it was parked."""

    def to_json(self) -> bytes:
        return _dump(self)

    @classmethod
    def from_json(cls, raw: bytes) -> ShardRecord:
        data = json.loads(raw)
        return cls(
            **{
                **data,
                "state": ShardState(data["state"]),
                "progress": Progress(**data["progress"]),
            }
        )


class ShardStatus(Struct, frozen=True):
    run_id: int
    spec: ShardSpec
    record: ShardRecord
    owner: int | None
    """The worker holding it now (its lease is alive), if any."""


class ShardLease(Struct, frozen=True):
    """What a worker holds after acquiring a shard: every write it makes carries
    `fence`, and `cursor` says where to resume."""

    run_id: int
    spec: ShardSpec
    fence: int
    worker_id: int
    cursor: str
    token: str
    """Identifies this acquisition (worker, session, fence): the owner key's value."""


def _dump(value: Struct) -> bytes:
    # Nested records become objects and enums their values; keys sorted, so
    # one record always encodes to the same bytes.
    return json.dumps(to_builtins(value), sort_keys=True, separators=(",", ":")).encode()
