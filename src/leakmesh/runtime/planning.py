"""Plan a fleet run (`leakmesh run create`): cut the input into shards.

Filesystem: half-open ranges of relative paths holding about `files_per_shard`
files each. Git: one shard per repository, and for a repository with more than
`objects_per_shard` objects, that many ranges of blob ids (by hex prefix), so
several workers share it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from msgspec import Struct

from leakmesh.coordination.models import ShardSpec
from leakmesh.sources.filesystem import FileEntry, FsSourceOptions, walk
from leakmesh.sources.git import count_objects, open_repository

MAX_BLOB_RANGES = 4096
"""Blob ranges are cut on three hex digits."""


class PlanOptions(Struct, frozen=True):
    files_per_shard: int = 2_000
    objects_per_shard: int = 2_000_000
    """Objects of every kind (`git count-objects`), per blob range. Each range walks
    the whole history again (3.4 s of git's own CPU for 100,000 commits and 850,000
    objects, bench/fleet.py), so a range must hold enough blobs to pay for it."""
    blob_ranges: int = 0
    """Blob-id ranges per repository; 0 decides from the repository's object count."""


def shard_id(index: int) -> str:
    return f"{index:05d}"


def plan_fs(root: Path, *, source: FsSourceOptions, options: PlanOptions) -> list[ShardSpec]:
    keys = sorted(entry.key for entry in walk(root, source) if isinstance(entry, FileEntry))
    count = max(1, math.ceil(len(keys) / options.files_per_shard))
    bounds = [keys[i * len(keys) // count] for i in range(1, count)]
    edges = ["", *bounds, ""]
    location = str(root.resolve())
    return [ShardSpec(shard_id(i), location, edges[i], edges[i + 1]) for i in range(count)]


def blob_ranges(count: int) -> list[tuple[str, str]]:
    """`count` half-open ranges covering every blob id, cut on hex prefixes."""
    count = max(1, min(count, MAX_BLOB_RANGES))
    cuts = [f"{i * MAX_BLOB_RANGES // count:03x}" for i in range(1, count)]
    edges = ["", *cuts, ""]
    return [(edges[i], edges[i + 1]) for i in range(count)]


def _object_count(location: str) -> int:
    """Objects of a local repository; 0 when it is not local (a URL)."""
    path = Path(location)
    return count_objects(open_repository(path)) if path.exists() else 0


def plan_git(repositories: Sequence[str], *, options: PlanOptions) -> list[ShardSpec]:
    shards: list[ShardSpec] = []
    for location in repositories:
        ranges = options.blob_ranges or math.ceil(
            max(1, _object_count(location)) / options.objects_per_shard
        )
        for start, end in blob_ranges(ranges):
            shards.append(ShardSpec(shard_id(len(shards)), location, start, end))
    return shards
