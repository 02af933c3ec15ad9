"""Classify raw content: text, UTF-16 text (re-encoded), binary, or an archive."""

from __future__ import annotations

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
