"""Classify raw content: text, UTF-16 text (re-encoded), binary, or an archive.

Kept free of heavy imports: `archives.py` (zip, tar, lzma…) loads only when an
archive is met.
"""

from __future__ import annotations

from msgspec import Struct

MIB = 1024 * 1024

BINARY_SNIFF_BYTES = 8192

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def looks_binary(data: bytes) -> bool:
    """A NUL byte near the start marks binary content (as git and grep decide)."""
    return b"\x00" in data[:BINARY_SNIFF_BYTES]


def as_text(data: bytes) -> bytes | None:
    """UTF-16 text with a byte-order mark, re-encoded as UTF-8; None when not UTF-16."""
    if data[:2] not in _UTF16_BOMS:
        return None
    try:
        return data.decode("utf-16").encode("utf-8")
    except UnicodeDecodeError:
        return None


class ArchiveBudget(Struct, frozen=True):
    max_depth: int = 4
    """Archives inside archives, counting the outermost as 1."""
    max_total_bytes: int = 256 * MIB
    """Bytes expanded from one top-level archive, all levels together."""
    max_members: int = 100_000


_XZ_MAGIC = b"\xfd7zXZ\x00"


def archive_kind(data: bytes) -> str | None:
    if data[:4] == b"PK\x03\x04" or data[:4] == b"PK\x05\x06":
        return "zip"
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    if data[:3] == b"BZh":
        return "bzip2"
    if data[:6] == _XZ_MAGIC:
        return "xz"
    if len(data) > 262 and data[257:262] == b"ustar":
        return "tar"
    return None
