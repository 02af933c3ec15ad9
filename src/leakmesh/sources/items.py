"""What sources produce: items to scan and records of what was skipped, and why."""

from __future__ import annotations

from enum import Enum

from msgspec import Struct


class SkipReason(str, Enum):
    BINARY = "binary"
    TOO_LARGE = "too_large"
    UNREADABLE = "unreadable"
    CORRUPT_ARCHIVE = "corrupt_archive"
    ARCHIVE = "archive"
    """An archive, not expanded (``--skip-archives``)."""
    ARCHIVE_BUDGET = "archive_budget"
    """Past the archive depth, size or member budget."""
    SYMLINK = "symlink"
    CORRUPT_OBJECT = "corrupt_object"
    """A git object that is missing or cannot be read."""
    ALREADY_SCANNED = "already_scanned"


class Item(Struct, frozen=True):
    """Bytes to scan with a stable key (relative path, ``a.zip!inner/path`` inside
    archives) and the display path findings report."""

    key: str
    data: bytes


class Skipped(Struct, frozen=True):
    key: str
    reason: SkipReason
    detail: str = ""
