"""Anchors: literals that every match of a rule must contain.

`manual` mode uses each rule's hand-written keywords; `derived` mode extracts the
required literals from the pattern itself, so user rules need no keywords. An
item is only confirmed against a rule when one of its anchors occurs in it
(compared case-insensitively, which only widens the gate).
"""

from __future__ import annotations

import re._constants as c  # type: ignore[import-not-found]
import re._parser as sre_parse  # type: ignore[import-not-found]
from collections.abc import Callable
from enum import Enum
from typing import Any

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


Exact = frozenset[bytes]
"""The finite set of strings an element matches (lowercased)."""


def _product(left: Exact, right: Exact) -> Exact | None:
    if len(left) * len(right) > _MAX_ALTERNATIVES:
        return None
    return frozenset(a + b for a in left for b in right)


def _union(
    branches: list[Any], of: Callable[[list[tuple[Any, Any]]], frozenset[bytes] | None]
) -> frozenset[bytes] | None:
    """Alternation: every branch must yield a set; the result is their union."""
    union: set[bytes] = set()
    for branch in branches:
        part = of(list(branch))
        if not part:
            return None
        union |= part
    return frozenset(union) if len(union) <= _MAX_ALTERNATIVES else None


def _exact_sequence(items: list[tuple[Any, Any]]) -> Exact | None:
    current: Exact = frozenset({b""})
    for op, arg in items:
        if op is c.AT:
            continue
        exact = _exact(op, arg)
        if exact is None:
            return None
        product = _product(current, exact)
        if product is None:
            return None
        current = product
    return current


def _exact(op: Any, arg: Any) -> Exact | None:
    if op is c.LITERAL:
        return frozenset({bytes([arg]).lower()}) if arg < 256 else None
    if op is c.SUBPATTERN:
        return _exact_sequence(list(arg[-1]))
    if op is c.BRANCH:
        return _union(arg[1], _exact_sequence)
    if op is c.IN:
        if not all(item_op is c.LITERAL and value < 256 for item_op, value in arg):
            return None
        chars = frozenset(bytes([value]).lower() for _, value in arg)
        return chars if len(chars) <= 4 else None
    if op in (c.MAX_REPEAT, c.MIN_REPEAT):
        low, high, body = arg
        if low != high or low > 16:
            return None
        once = _exact_sequence(list(body))
        if once is None:
            return None
        current: Exact = frozenset({b""})
        for _ in range(low):
            product = _product(current, once)
            if product is None:
                return None
            current = product
        return current
    return None


def _sequence(items: list[tuple[Any, Any]]) -> Requirement:
    """Best requirement of a concatenation: its longest exact run, or the best
    requirement of one of its required parts."""
    best: Requirement = None
    current: Exact = frozenset({b""})

    def flush() -> None:
        nonlocal best, current
        if min(len(x) for x in current) >= MIN_ANCHOR_LENGTH:
            best = _best(best, current)
        current = frozenset({b""})

    for op, arg in items:
        if op is c.AT:
            continue  # zero-width: does not break a literal run
        exact = _exact(op, arg)
        if exact is not None:
            product = _product(current, exact)
            if product is not None:
                current = product
                continue
            flush()
            current = exact
            continue
        flush()
        best = _best(best, _required(op, arg))
    flush()
    return best


def _required(op: Any, arg: Any) -> Requirement:
    if op in (c.MAX_REPEAT, c.MIN_REPEAT):
        low, _high, body = arg
        return _sequence(list(body)) if low >= 1 else None
    if op is c.SUBPATTERN:
        return _sequence(list(arg[-1]))
    if op is c.BRANCH:
        return _union(arg[1], _sequence)
    return None


def anchors_of(parsed: Any) -> tuple[bytes, ...]:
    """Anchors of an already parsed pattern (``re._parser.parse`` output)."""
    req = _sequence(list(parsed))
    return tuple(sorted(req)) if req else ()


def derive_anchors(pattern: str) -> tuple[bytes, ...]:
    """Lowercased literals of which every match of `pattern` contains one (empty when
    the pattern requires no literal of at least `MIN_ANCHOR_LENGTH` bytes)."""
    return anchors_of(sre_parse.parse(pattern))
