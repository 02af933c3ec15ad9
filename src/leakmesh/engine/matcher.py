"""One Hyperscan database for every rule and the decoder triggers.

The database is compiled once per ruleset and cached on disk, keyed by its hash. Scanning reports, per rule, the windows in which `re` must
look; each scanning thread needs its own `Scratch` (`Matcher.scratch()`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import blake3
import hyperscan
from msgspec import Struct

from leakmesh.engine.anchors import AnchorMode
from leakmesh.engine.decoders import DECODERS
from leakmesh.engine.errors import EngineError

if TYPE_CHECKING:
    from leakmesh.engine.rules import Rule, Ruleset

TRIGGER_ID_BASE = 1_000_000

WHOLE_BUFFER_WIDTH = 2_048
"""Bytes: a rule that can match more than this (PEM blocks, say) is reported once
per buffer and confirmed over the whole buffer: its end offsets inside a long
key body would otherwise cost one callback per byte."""

_FORMAT_VERSION = b"leakmesh-hsdb-v2"
_HYPERSCAN_VERSION: str = getattr(hyperscan, "__version__", "unknown")


class ScanHits(Struct, frozen=True):
    """What Hyperscan saw in one buffer."""

    ends: dict[int, list[int]]
    """Rule index → end offsets of candidate matches, in scan order."""
    triggers: dict[str, list[int]]
    """Decoder name → end offsets of its trigger matches."""


class Matcher:
    def __init__(
        self, *, ruleset: Ruleset, anchor_mode: AnchorMode, cache_dir: Path | None
    ) -> None:
        self.ruleset = ruleset
        self.anchor_mode = anchor_mode
        self.rule_anchors = tuple(rule_anchors(rule, anchor_mode) for rule in ruleset.rules)
        self.whole_buffer = tuple(rule.max_width > WHOLE_BUFFER_WIDTH for rule in ruleset.rules)
        self._trigger_names = tuple(d.name for d in DECODERS)
        self.cache_key = database_key(ruleset)
        self.database = self._load_or_compile(cache_dir)

    @classmethod
    def ensure_cached(cls, *, ruleset: Ruleset, anchor_mode: AnchorMode, cache_dir: Path) -> None:
        """Compile the database into `cache_dir` unless it is there already, without
        keeping it: for a process whose forked workers each load their own."""
        if not database_path(cache_dir, database_key(ruleset)).is_file():
            cls(ruleset=ruleset, anchor_mode=anchor_mode, cache_dir=cache_dir)

    def _expressions(self) -> tuple[list[bytes], list[int], list[int]]:
        expressions: list[bytes] = []
        ids: list[int] = []
        flags: list[int] = []
        for i, rule in enumerate(self.ruleset.rules):
            expressions.append(hyperscan_form(rule.pattern).encode())
            ids.append(i)
            flag = hyperscan.HS_FLAG_PREFILTER if rule.needs_prefilter else 0
            if self.whole_buffer[i]:
                flag |= hyperscan.HS_FLAG_SINGLEMATCH
            flags.append(flag)
        for i, decoder in enumerate(DECODERS):
            expressions.append(decoder.trigger)
            ids.append(TRIGGER_ID_BASE + i)
            flags.append(0)
        return expressions, ids, flags

    def _compile(self) -> hyperscan.Database:
        expressions, ids, flags = self._expressions()
        database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        try:
            database.compile(expressions=expressions, ids=ids, elements=len(ids), flags=flags)
        except hyperscan.error as exc:
            raise EngineError(f"Hyperscan rejected the ruleset: {exc}") from None
        return database

    def _load_or_compile(self, cache_dir: Path | None) -> hyperscan.Database:
        if cache_dir is None:
            return self._compile()
        path = database_path(cache_dir, self.cache_key)
        with contextlib.suppress(OSError, hyperscan.error):
            return hyperscan.loadb(path.read_bytes(), hyperscan.HS_MODE_BLOCK)
        database = self._compile()
        with contextlib.suppress(OSError):
            cache_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".hsdb-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(hyperscan.dumpb(database))
            os.replace(tmp, path)
        return database

    def scratch(self) -> hyperscan.Scratch:
        return hyperscan.Scratch(self.database)

    def scan(self, data: bytes, scratch: hyperscan.Scratch) -> ScanHits:
        ends: defaultdict[int, list[int]] = defaultdict(list)
        triggers: defaultdict[str, list[int]] = defaultdict(list)
        trigger_names = self._trigger_names

        def on_match(ident: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            if ident < TRIGGER_ID_BASE:
                ends[ident].append(end)
            else:
                triggers[trigger_names[ident - TRIGGER_ID_BASE]].append(end)

        self.database.scan(data, match_event_handler=on_match, scratch=scratch)
        return ScanHits(ends=dict(ends), triggers=dict(triggers))

    def anchored(self, rule_index: int, lowered: bytes) -> bool:
        """Is the rule's anchor gate open for this (lowercased) buffer? Checked only
        for rules Hyperscan already reported, so common anchors cost nothing."""
        anchors = self.rule_anchors[rule_index]
        return not anchors or any(anchor in lowered for anchor in anchors)

    def windows(self, rule_index: int, ends: list[int], size: int) -> list[tuple[int, int]]:
        if self.whole_buffer[rule_index]:
            return [(0, size)]
        return windows(ends, self.ruleset.rules[rule_index].max_width, size)


def database_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"hsdb-{key}.bin"


def database_key(ruleset: Ruleset) -> str:
    """Names the compiled database of `ruleset` in the disk cache."""
    hasher = blake3.blake3(_FORMAT_VERSION)
    hasher.update(_HYPERSCAN_VERSION.encode())
    hasher.update(ruleset.content_hash().encode())
    for decoder in DECODERS:
        hasher.update(b"\x01" + decoder.trigger)
    return hasher.hexdigest()[:32]


WIDEN_REPEATS_ABOVE = 64
"""Hyperscan compiles large bounded repeats slowly (tens of seconds for a few
rules); above this bound a repeat is compiled unbounded. That only widens what
Hyperscan reports: `re` confirms with the exact pattern, on windows sized by
the exact pattern's width."""


def hyperscan_form(pattern: str, *, limit: int = WIDEN_REPEATS_ABOVE) -> str:
    """`pattern` with every ``{m,n}`` outside character classes where n > `limit`
    turned into ``{m,}``: it matches a superset of what `pattern` matches."""
    out: list[str] = []
    i, class_body_start = 0, -1
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if class_body_start >= 0:
            # A ']' right after '[' or '[^' is a literal member, not the end.
            if char == "]" and i > class_body_start:
                class_body_start = -1
        elif char == "[":
            class_body_start = i + 2 if pattern[i + 1 : i + 2] == "^" else i + 1
        elif char == "{":
            close = pattern.find("}", i)
            low, comma, high = pattern[i + 1 : close].partition(",")
            if close > 0 and comma and low.isdigit() and high.isdigit() and int(high) > limit:
                out.append("{" + low + ",}")
                i = close + 1
                continue
        out.append(char)
        i += 1
    return "".join(out)


def rule_anchors(rule: Rule, mode: AnchorMode) -> tuple[bytes, ...]:
    if mode is AnchorMode.MANUAL:
        return tuple(k.encode() for k in rule.keywords)
    return rule.derived_anchors


def windows(ends: list[int], width: int, size: int) -> list[tuple[int, int]]:
    """Merge ``[end - width, end]`` intervals into disjoint windows within ``[0, size]``."""
    merged: list[tuple[int, int]] = []
    for end in sorted(ends):
        start = max(0, end - width)
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, min(end, size)))
    return merged
