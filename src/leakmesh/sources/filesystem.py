"""The filesystem source: walk a tree, then read each file into items.

The walk honours ``.gitignore`` files (nested too) and a path ignore list, skips
``.git/`` and never follows symbolic links, so nothing outside the root is read.
Reading classifies content: text is an item, UTF-16 text is re-encoded, binary
is skipped unless asked for, archives are expanded on a budget.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from msgspec import Struct, field

from leakmesh.sources.content import ArchiveBudget, archive_kind, as_text, looks_binary
from leakmesh.sources.items import Item, Skipped, SkipReason

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

MIB = 1024 * 1024
DEFAULT_MAX_FILE_BYTES = 100 * MIB
ALWAYS_SKIPPED_DIRS = frozenset({".git"})
IGNORE_FILE_NAME = ".leakmeshignore"


class FsSourceOptions(Struct, frozen=True):
    respect_gitignore: bool = True
    scan_binary: bool = False
    skip_archives: bool = False
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    archive_budget: ArchiveBudget = field(default_factory=ArchiveBudget)
    ignore_patterns: tuple[str, ...] = ()
    """Gitignore-syntax patterns, relative to the root, of paths never scanned."""

    def policy_options(self) -> dict[str, object]:
        """The options that change what is found, for the policy hash."""
        return {"scan_binary": self.scan_binary, "skip_archives": self.skip_archives}


class FileEntry(Struct, frozen=True):
    key: str
    """Path relative to the root, with ``/`` separators."""
    path: str
    size: int


class _IgnoreLevel(Struct, frozen=True):
    base: str
    """Directory (relative to the root, ``""`` for the root) the patterns are relative to."""
    spec: GitIgnoreSpec


def _ignored(levels: Sequence[_IgnoreLevel], key: str, is_dir: bool) -> bool:
    verdict: bool | None = None
    for level in levels:
        relative = key[len(level.base) + 1 :] if level.base else key
        result = level.spec.check_file(relative + "/" if is_dir else relative)
        if result.include is not None:
            verdict = result.include
    return bool(verdict)


def _gitignore_level(directory: str, base: str) -> _IgnoreLevel | None:
    try:
        with open(os.path.join(directory, ".gitignore"), encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    return _IgnoreLevel(base, _spec(lines)) if lines else None


def _spec(lines: Sequence[str]) -> GitIgnoreSpec:
    from pathspec import GitIgnoreSpec  # most trees have no ignore files

    return GitIgnoreSpec.from_lines(lines)


def ignored_paths(patterns: Sequence[str]) -> Callable[[str], bool]:
    """A predicate: does one of the gitignore-style `patterns` exclude this path?"""
    if not patterns:
        return lambda _path: False
    spec = _spec(patterns)
    return lambda path: bool(spec.match_file(path))


def _listing(directory: str) -> list[os.DirEntry[str]]:
    with os.scandir(directory) as scanner:
        return sorted(scanner, key=_walk_order)


def _walk_order(entry: os.DirEntry[str]) -> str:
    """A directory sorts as its name with the separator after it, so that the
    depth-first walk yields keys in string order ("a.txt" before "a/b") and a
    consumer needing them sorted can take them as they come."""
    try:
        return entry.name + "/" if entry.is_dir(follow_symlinks=False) else entry.name
    except OSError:
        return entry.name


DirectoryFilter = Callable[[str], bool]
"""Given a directory's key, whether the walk goes into it."""


def walk(
    root: Path, options: FsSourceOptions, *, descend: DirectoryFilter | None = None
) -> Iterator[FileEntry | Skipped]:
    """Regular files under `root` in key order (keys sorted as strings), or `root`
    itself when it is a file;
    `descend` prunes directories (a fleet shard walks only its own key range)."""
    root_stat = os.stat(root)
    if stat.S_ISREG(root_stat.st_mode):
        yield FileEntry(key=root.name, path=str(root), size=root_stat.st_size)
        return
    levels: tuple[_IgnoreLevel, ...] = ()
    if options.ignore_patterns:
        levels = (_IgnoreLevel("", _spec(options.ignore_patterns)),)
    yield from _walk_dir(str(root), "", levels, options, descend)


def _walk_dir(
    directory: str,
    prefix: str,
    levels: tuple[_IgnoreLevel, ...],
    options: FsSourceOptions,
    descend: DirectoryFilter | None,
) -> Iterator[FileEntry | Skipped]:
    if options.respect_gitignore:
        level = _gitignore_level(directory, prefix)
        if level is not None:
            levels = (*levels, level)
    try:
        entries = _listing(directory)
    except OSError as exc:
        yield Skipped(prefix or ".", SkipReason.UNREADABLE, exc.strerror or type(exc).__name__)
        return
    for entry in entries:
        key = f"{prefix}/{entry.name}" if prefix else entry.name
        try:
            if entry.is_symlink():
                if not _ignored(levels, key, False):
                    yield Skipped(key, SkipReason.SYMLINK, "symbolic links are not followed")
            elif entry.is_dir(follow_symlinks=False):
                if (
                    entry.name not in ALWAYS_SKIPPED_DIRS
                    and (descend is None or descend(key))
                    and not _ignored(levels, key, True)
                ):
                    yield from _walk_dir(entry.path, key, levels, options, descend)
            elif entry.is_file(follow_symlinks=False) and not _ignored(levels, key, False):
                size = entry.stat(follow_symlinks=False).st_size
                yield FileEntry(key=key, path=entry.path, size=size)
        except OSError as exc:
            yield Skipped(key, SkipReason.UNREADABLE, exc.strerror or type(exc).__name__)


def classify(key: str, data: bytes, options: FsSourceOptions) -> Iterator[Item | Skipped]:
    """Decide what raw content is: an item, a skipped binary, or an archive to expand."""
    if archive_kind(data) is not None:
        if options.skip_archives:
            yield Skipped(key, SkipReason.ARCHIVE, "archive not expanded")
            return
        from leakmesh.sources.archives import expand  # zip/tar/lzma imports on first archive

        yield from expand(
            data,
            key=key,
            limits=options.archive_budget,
            classify=lambda k, d: classify(k, d, options),
        )
        return
    if looks_binary(data):
        text = as_text(data)
        if text is not None:
            yield Item(key, text)
        elif options.scan_binary:
            yield Item(key, data)
        else:
            yield Skipped(key, SkipReason.BINARY)
        return
    yield Item(key, data)


def read_file(entry: FileEntry, options: FsSourceOptions) -> bytes | Skipped:
    """The file's bytes, or why it was not read."""
    if entry.size > options.max_file_bytes:
        return Skipped(entry.key, SkipReason.TOO_LARGE, f"{entry.size} bytes")
    limit = options.max_file_bytes
    try:
        with open(entry.path, "rb") as handle:
            # Sized from the file: read(limit + 1) would allocate the whole budget
            # for every file (most of a scan's time on trees of small files).
            size = min(os.fstat(handle.fileno()).st_size, limit)
            data = handle.read(size + 1)
            if len(data) > size:  # it grew since fstat
                data += handle.read(limit + 1 - len(data))
    except OSError as exc:
        return Skipped(entry.key, SkipReason.UNREADABLE, exc.strerror or type(exc).__name__)
    if len(data) > limit:
        return Skipped(entry.key, SkipReason.TOO_LARGE, "grew past the size budget")
    return data


def read_entry(entry: FileEntry, options: FsSourceOptions) -> Iterator[Item | Skipped]:
    data = read_file(entry, options)
    if isinstance(data, Skipped):
        yield data
        return
    yield from classify(entry.key, data, options)
