"""Telemetry events and their sanitization (SPEC §8): which field may be shown,
which is digested. Pure data and functions; the recorder (``telemetry``) does the I/O.

A sink only ever sees the output of :func:`sanitize`. What a field may carry is
decided by one declared table keyed by the field label, next to the events
whose fields it governs, not by code per event; a label missing from the table
is digested, so a field added to an event without a decision leaks nothing.

The digest is ``len=<n>,hash=<16 hex>``: the UTF-8 byte length and the first
64 bits of a BLAKE3 derive-key hash whose context names the field label, so
equal values correlate within one label and never across labels. It hides a
value from a reader of the logs, not from someone who can guess it: the
context is public, so a short or guessable value (an e-mail address, a repo
name) can be confirmed by hashing candidates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum, StrEnum
from types import MappingProxyType
from typing import ClassVar, Final, Protocol

import blake3
from msgspec import Struct

DEFAULT_KEY_CONTEXT: Final = "leakmesh telemetry 2026"
"""Prefix of every derive-key context; the field label is appended to it."""

HASH_HEX_CHARS: Final = 16

Record = dict[str, str | int]
"""A sanitized event: the only shape a sink receives."""


class Category(StrEnum):
    """Sink failures are reported once per category."""

    CORE = "core"
    GIT = "git"
    PROGRESS = "progress"


class FieldPolicy(Enum):
    KEEP = "keep"
    """Counters and ids chosen by our code, never by tenant content."""
    DIGEST = "digest"
    """Anything that can hold tenant data, paths, identities, repo names or free text."""


FIELD_POLICY: Final[Mapping[str, FieldPolicy]] = MappingProxyType(
    {
        # Ids and counters: safe to show, and what an operator needs to read.
        "rule_id": FieldPolicy.KEEP,
        "shard_id": FieldPolicy.KEEP,
        "line": FieldPolicy.KEEP,
        "items": FieldPolicy.KEEP,
        "bytes": FieldPolicy.KEEP,
        "blobs": FieldPolicy.KEEP,
        "items_scanned": FieldPolicy.KEEP,
        "bytes_scanned": FieldPolicy.KEEP,
        "items_skipped": FieldPolicy.KEEP,
        "findings_emitted": FieldPolicy.KEEP,
        "duration_ms": FieldPolicy.KEEP,
        # Listed although DIGEST is the default, so that the decision is visible.
        # A fingerprint is already a keyed hash, but it still identifies one secret.
        "fingerprint": FieldPolicy.DIGEST,
        "path": FieldPolicy.DIGEST,
        "repo": FieldPolicy.DIGEST,
        "commit": FieldPolicy.DIGEST,
        "date": FieldPolicy.DIGEST,
        "subject": FieldPolicy.DIGEST,
        "message": FieldPolicy.DIGEST,
        "where": FieldPolicy.DIGEST,
        "author_name": FieldPolicy.DIGEST,
        "author_email": FieldPolicy.DIGEST,
    }
)

# A kept string must still look like an identifier: a rule id from a user's rules
# file that holds a path or a sentence is digested rather than shown.
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")


class TelemetryEvent(Protocol):
    """A frozen Struct with a stable event name and a category."""

    __struct_fields__: ClassVar[tuple[str, ...]]

    @property
    def event(self) -> str: ...

    @property
    def category(self) -> Category: ...


class FindingEvent(Struct, frozen=True, kw_only=True):
    event: ClassVar[str] = "telemetry.finding"
    category: ClassVar[Category] = Category.CORE
    rule_id: str
    fingerprint: str
    path: str
    line: int
    repo: str | None = None
    commit: str | None = None


class ProgressEvent(Struct, frozen=True, kw_only=True):
    event: ClassVar[str] = "telemetry.progress"
    category: ClassVar[Category] = Category.CORE
    shard_id: int
    items: int
    bytes: int


class SummaryEvent(Struct, frozen=True, kw_only=True):
    event: ClassVar[str] = "telemetry.summary"
    category: ClassVar[Category] = Category.CORE
    items_scanned: int
    bytes_scanned: int
    items_skipped: int
    findings_emitted: int
    duration_ms: int


class DiagnosticEvent(Struct, frozen=True, kw_only=True):
    event: ClassVar[str] = "telemetry.diagnostic"
    category: ClassVar[Category] = Category.CORE
    message: str
    where: str


class CommitMetaEvent(Struct, frozen=True, kw_only=True):
    event: ClassVar[str] = "telemetry.commit_meta"
    category: ClassVar[Category] = Category.GIT
    repo: str
    commit: str
    date: str
    subject: str


class IdentityEvent(Struct, frozen=True, kw_only=True):
    event: ClassVar[str] = "telemetry.identity"
    category: ClassVar[Category] = Category.GIT
    author_name: str
    author_email: str


class CommitBeginEvent(Struct, frozen=True, kw_only=True):
    event: ClassVar[str] = "telemetry.commit_begin"
    category: ClassVar[Category] = Category.PROGRESS
    repo: str
    commit: str
    blobs: int


class CommitFinishEvent(Struct, frozen=True, kw_only=True):
    event: ClassVar[str] = "telemetry.commit_finish"
    category: ClassVar[Category] = Category.PROGRESS
    repo: str
    commit: str
    blobs: int


EVENT_TYPES: Final = (
    FindingEvent,
    ProgressEvent,
    SummaryEvent,
    DiagnosticEvent,
    CommitMetaEvent,
    IdentityEvent,
    CommitBeginEvent,
    CommitFinishEvent,
)


def digest(value: str, *, label: str, key_context: str = DEFAULT_KEY_CONTEXT) -> str:
    """``len=<utf-8 bytes>,hash=<first 64 bits of BLAKE3 derive-key(context, label)>``."""
    # surrogatepass: a lone surrogate (from a badly decoded path) must not make
    # telemetry raise; it is hashed as its 3-byte encoding.
    data = value.encode("utf-8", "surrogatepass")
    hasher = blake3.blake3(data, derive_key_context=f"{key_context} field:{label}")
    return f"len={len(data)},hash={hasher.digest(length=HASH_HEX_CHARS // 2).hex()}"


def sanitize_value(
    value: object, *, label: str, key_context: str = DEFAULT_KEY_CONTEXT
) -> str | int:
    """One field as a sink may see it, under the table's policy for ``label``."""
    policy = FIELD_POLICY.get(label, FieldPolicy.DIGEST)
    if policy is FieldPolicy.KEEP:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, str) and _IDENTIFIER.fullmatch(value):
            return value
    text = value if isinstance(value, str) else str(value)
    return digest(text, label=label, key_context=key_context)


def sanitize(event: TelemetryEvent, *, key_context: str = DEFAULT_KEY_CONTEXT) -> Record:
    """The record of ``event`` for sinks: event name, category, then its fields in
    declaration order, each kept or digested; absent (None) fields are left out."""
    record: Record = {"event": event.event, "category": event.category.value}
    for name in event.__struct_fields__:
        value = getattr(event, name)
        if value is None:
            continue
        record[name] = sanitize_value(value, label=name, key_context=key_context)
    return record
