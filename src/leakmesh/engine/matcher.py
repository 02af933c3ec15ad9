"""One Hyperscan database for every rule, its anchors and the decoder triggers.

The database is compiled once per ruleset and anchor mode and cached on disk,
keyed by that hash. Scanning reports, per rule, the windows in which `re` must
look; each scanning thread needs its own `Scratch` (`Matcher.scratch()`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import blake3
import hyperscan

from leakmesh.engine.anchors import AnchorMode
from leakmesh.engine.decoders import DECODERS
from leakmesh.engine.errors import EngineError
from leakmesh.engine.rules import Rule, Ruleset

ANCHOR_ID_BASE = 1_000_000
TRIGGER_ID_BASE = 2_000_000


_FORMAT_VERSION = b"leakmesh-hsdb-v1"
_HYPERSCAN_VERSION: str = getattr(hyperscan, "__version__", "unknown")


@dataclass(frozen=True, slots=True)
class ScanHits:
    """What Hyperscan saw in one buffer."""

    ends: dict[int, list[int]]
    """Rule index → end offsets of candidate matches, in scan order."""
    anchors: set[int]
    """Indices of anchors seen."""
    triggers: dict[str, list[int]]
    """Decoder name → end offsets of its trigger matches."""


class Matcher:
    def __init__(
        self, *, ruleset: Ruleset, anchor_mode: AnchorMode, cache_dir: Path | None
    ) -> None:
        self.ruleset = ruleset
        self.anchor_mode = anchor_mode
        anchors: list[bytes] = []
        index: dict[bytes, int] = {}
        self.rule_anchor_ids: list[tuple[int, ...]] = []
        for rule in ruleset.rules:
            ids = []
            for literal in rule_anchors(rule, anchor_mode):
                if literal not in index:
                    index[literal] = len(anchors)
                    anchors.append(literal)
                ids.append(index[literal])
            self.rule_anchor_ids.append(tuple(ids))
        self.anchors = tuple(anchors)
        self.max_widths = tuple(rule.max_width for rule in ruleset.rules)
        self._trigger_names = tuple(d.name for d in DECODERS)
        self.cache_key = self._cache_key()
        self.database = self._load_or_compile(cache_dir)

    def _cache_key(self) -> str:
        hasher = blake3.blake3(_FORMAT_VERSION)
        hasher.update(_HYPERSCAN_VERSION.encode())
        hasher.update(self.ruleset.content_hash().encode())
        hasher.update(self.anchor_mode.value.encode())
        for literal in self.anchors:
            hasher.update(b"\x00" + literal)
        for decoder in DECODERS:
            hasher.update(b"\x01" + decoder.trigger)
        return hasher.hexdigest()[:32]

    def _expressions(self) -> tuple[list[bytes], list[int], list[int]]:
        expressions: list[bytes] = []
        ids: list[int] = []
        flags: list[int] = []
        for i, rule in enumerate(self.ruleset.rules):
            expressions.append(hyperscan_form(rule.pattern).encode())
            ids.append(i)
            flags.append(hyperscan.HS_FLAG_PREFILTER if rule.needs_prefilter else 0)
        once = hyperscan.HS_FLAG_SINGLEMATCH
        for i, literal in enumerate(self.anchors):
            expressions.append(_escape_literal(literal))
            ids.append(ANCHOR_ID_BASE + i)
            flags.append(hyperscan.HS_FLAG_CASELESS | once)
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
        path = cache_dir / f"hsdb-{self.cache_key}.bin"
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
        anchors: set[int] = set()
        triggers: defaultdict[str, list[int]] = defaultdict(list)
        trigger_names = self._trigger_names

        def on_match(ident: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            if ident < ANCHOR_ID_BASE:
                ends[ident].append(end)
            elif ident < TRIGGER_ID_BASE:
                anchors.add(ident - ANCHOR_ID_BASE)
            else:
                triggers[trigger_names[ident - TRIGGER_ID_BASE]].append(end)

        self.database.scan(data, match_event_handler=on_match, scratch=scratch)
        return ScanHits(ends=dict(ends), anchors=anchors, triggers=dict(triggers))

    def active(self, rule_index: int, hits: ScanHits) -> bool:
        """Is the rule's anchor gate open for this buffer?"""
        ids = self.rule_anchor_ids[rule_index]
        return not ids or any(i in hits.anchors for i in ids)


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


def _escape_literal(literal: bytes) -> bytes:
    return b"".join(b"\\x%02x" % byte for byte in literal)


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
