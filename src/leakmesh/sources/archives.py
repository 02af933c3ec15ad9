"""Expand zip, tar, gzip, bzip2 and xz content (nested too) into items, on budgets.

Member keys join the archive key and the member path with ``!``:
``dist/app.zip!config/settings.py``. A corrupt archive is one skipped record;
what was expanded before the corruption is still scanned.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from typing import IO

from leakmesh.sources.content import ArchiveBudget, archive_kind
from leakmesh.sources.items import Item, Skipped, SkipReason

MIB = 1024 * 1024


class _Budget:
    def __init__(self, limits: ArchiveBudget) -> None:
        self.limits = limits
        self.bytes_left = limits.max_total_bytes
        self.members_left = limits.max_members


class _TooBig(Exception):
    pass


def _read_capped(stream: IO[bytes] | io.BufferedIOBase, budget: _Budget) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = stream.read(MIB)
        if not chunk:
            return b"".join(chunks)
        budget.bytes_left -= len(chunk)
        if budget.bytes_left < 0:
            raise _TooBig
        chunks.append(chunk)


# Each opener's result is used as a context manager by `_members`.
_STREAM_OPENERS: dict[str, Callable[[io.BytesIO], io.BufferedIOBase]] = {
    "gzip": lambda raw: gzip.GzipFile(fileobj=raw),
    "bzip2": lambda raw: bz2.BZ2File(raw),
    "xz": lambda raw: lzma.LZMAFile(raw),  # noqa: SIM115
}
_STREAM_SUFFIXES = {
    "gzip": {".gz": "", ".tgz": ".tar"},
    "bzip2": {".bz2": "", ".tbz2": ".tar"},
    "xz": {".xz": "", ".txz": ".tar"},
}


def _inner_name(key: str, kind: str) -> str:
    """``logs.tgz`` holds ``logs.tar``; ``notes.txt.gz`` holds ``notes.txt``."""
    name = key.rsplit("!", 1)[-1].rsplit("/", 1)[-1]
    for suffix, replacement in _STREAM_SUFFIXES[kind].items():
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] + replacement
    return name or "content"


def _members(kind: str, data: bytes, key: str, budget: _Budget) -> Iterator[tuple[str, bytes]]:
    if kind == "zip":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for zip_info in archive.infolist():
                if zip_info.is_dir():
                    continue
                if zip_info.file_size > budget.bytes_left:
                    raise _TooBig
                with archive.open(zip_info) as member:
                    yield zip_info.filename, _read_capped(member, budget)
    elif kind == "tar":
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            for info in archive:
                if not info.isfile():
                    continue
                if info.size > budget.bytes_left:
                    raise _TooBig
                extracted = archive.extractfile(info)
                if extracted is not None:
                    yield info.name, _read_capped(extracted, budget)
    else:
        with _STREAM_OPENERS[kind](io.BytesIO(data)) as stream:
            yield _inner_name(key, kind), _read_capped(stream, budget)


_CORRUPT = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    tarfile.TarError,
    gzip.BadGzipFile,
    lzma.LZMAError,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)


def expand(
    data: bytes,
    *,
    key: str,
    limits: ArchiveBudget,
    classify: Callable[[str, bytes], Iterator[Item | Skipped]],
    depth: int = 1,
    budget: _Budget | None = None,
) -> Iterator[Item | Skipped]:
    """Items inside the archive `data`; `classify` decides what each member is (and
    calls back here for nested archives through `expand_nested`)."""
    kind = archive_kind(data)
    if kind is None:
        return
    budget = budget or _Budget(limits)
    if depth > limits.max_depth:
        yield Skipped(key, SkipReason.ARCHIVE_BUDGET, f"nested deeper than {limits.max_depth}")
        return
    try:
        for name, content in _members(kind, data, key, budget):
            budget.members_left -= 1
            if budget.members_left < 0:
                yield Skipped(key, SkipReason.ARCHIVE_BUDGET, "too many members")
                return
            member_key = f"{key}!{name}"
            if archive_kind(content) is not None:
                yield from expand(
                    content,
                    key=member_key,
                    limits=limits,
                    classify=classify,
                    depth=depth + 1,
                    budget=budget,
                )
            else:
                yield from classify(member_key, content)
    except _TooBig:
        yield Skipped(key, SkipReason.ARCHIVE_BUDGET, "expanded size over budget")
    except _CORRUPT as exc:
        yield Skipped(key, SkipReason.CORRUPT_ARCHIVE, type(exc).__name__)
