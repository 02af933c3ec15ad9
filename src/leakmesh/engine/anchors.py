"""Anchors: literals that every match of a rule must contain.

`manual` mode uses each rule's hand-written keywords; `derived` mode extracts the
required literals from the pattern itself, so user rules need no keywords. An
item is only confirmed against a rule when one of its anchors occurs in it
(compared case-insensitively, which only widens the gate).
"""

from __future__ import annotations

import re._constants as c  # type: ignore[import-not-found]
import re._parser as sre_parse  # type: ignore[import-not-found]
from enum import Enum
from typing import Any

from leakmesh.engine.rules import Rule

MIN_ANCHOR_LENGTH = 3
"""Bytes: shorter literals gate nothing useful."""

_MAX_ALTERNATIVES = 64

Requirement = frozenset[bytes] | None
"""Alternatives of which every match contains at least one; None: nothing required."""


class AnchorMode(str, Enum):
    MANUAL = "manual"
    DERIVED = "derived"


def _quality(req: Requirement) -> int:
    return 0 if not req else min(len(x) for x in req)


def _best(a: Requirement, b: Requirement) -> Requirement:
    return a if _quality(a) >= _quality(b) else b


def _literal_char(op: Any, arg: Any) -> bytes | None:
    if op is c.LITERAL and arg < 256:
        return bytes([arg]).lower()
    return None


def _sequence(items: list[tuple[Any, Any]]) -> Requirement:
    best: Requirement = None
    run = bytearray()

    def flush() -> None:
        nonlocal best, run
        if len(run) >= MIN_ANCHOR_LENGTH:
            best = _best(best, frozenset({bytes(run)}))
        run = bytearray()

    for op, arg in items:
        char = _literal_char(op, arg)
        if char is not None:
            run += char
            continue
        if op in (c.MAX_REPEAT, c.MIN_REPEAT):
            low, high, body = arg
            body_items = list(body)
            if low == high and len(body_items) == 1 and low <= 16:
                repeated = _literal_char(*body_items[0])
                if repeated is not None:
                    run += repeated * low
                    continue
            flush()
            if low >= 1:
                best = _best(best, _sequence(body_items))
            continue
        if op is c.AT:
            continue  # zero-width: does not break a literal run
        flush()
        best = _best(best, _node(op, arg))
    flush()
    return best


def _node(op: Any, arg: Any) -> Requirement:
    if op is c.SUBPATTERN:
        return _sequence(list(arg[-1]))
    if op is c.BRANCH:
        alternatives: set[bytes] = set()
        for branch in arg[1]:
            req = _sequence(list(branch))
            if not req:
                return None
            alternatives |= req
        if len(alternatives) > _MAX_ALTERNATIVES:
            return None
        return frozenset(alternatives)
    return None


def derive_anchors(pattern: str) -> tuple[bytes, ...]:
    """Lowercased literals of which every match of `pattern` contains one (empty when
    the pattern requires no literal of at least `MIN_ANCHOR_LENGTH` bytes)."""
    parsed = sre_parse.parse(pattern)
    req = _sequence(list(parsed))
    return tuple(sorted(req)) if req else ()


def rule_anchors(rule: Rule, mode: AnchorMode) -> tuple[bytes, ...]:
    if mode is AnchorMode.MANUAL:
        return tuple(k.encode() for k in rule.keywords)
    return derive_anchors(rule.pattern)
