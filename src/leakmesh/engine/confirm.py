"""Confirm a rule on a window of bytes: capture the secret and apply the rule's filters.

Hyperscan tells us *where* a rule may match; this module decides *whether* it
does, with Python `re` on that window only, and what the secret is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from msgspec import Struct

from leakmesh.engine.entropy import shannon_entropy
from leakmesh.engine.placeholders import is_placeholder
from leakmesh.engine.validators import VALIDATORS

if TYPE_CHECKING:
    from leakmesh.engine.rules import Confidence, Rule


class RuleMatch(Struct, frozen=True):
    """One confirmed match of one rule; offsets are into the scanned buffer."""

    rule: Rule
    secret: bytes
    secret_start: int
    secret_end: int
    match_start: int
    match_end: int
    entropy: float
    confidence: Confidence
    validated: bool | None
    """True: the format's checksum/structure holds; False: it fails; None: no check."""


def rule_applies_to_path(rule: Rule, path: str | None) -> bool:
    return path is None or not rule.allowlist.allows_path(path)


def secret_is_allowed(rule: Rule, secret: bytes) -> bool:
    """True when the rule's own allowlist or placeholder filter drops `secret`."""
    if rule.allowlist.allows_secret(secret):
        return True
    return rule.placeholder_filter and is_placeholder(secret)


def confirm(
    rule: Rule, data: bytes, *, pos: int = 0, endpos: int | None = None
) -> Iterator[RuleMatch]:
    """Every match of `rule` in ``data[pos:endpos]`` that survives its filters."""
    pattern = rule.compiled()
    end = len(data) if endpos is None else endpos
    for match in pattern.finditer(data, pos, end):
        secret = match.group(rule.secret_group)
        if not secret:
            continue
        entropy = shannon_entropy(secret)
        if rule.min_entropy is not None and entropy < rule.min_entropy:
            continue
        if secret_is_allowed(rule, secret):
            continue
        confidence = rule.confidence
        validated: bool | None = None
        if rule.validator is not None:
            validated = VALIDATORS[rule.validator](secret)
            confidence = confidence.raised() if validated else confidence.lowered()
        start, stop = match.span(rule.secret_group)
        yield RuleMatch(
            rule=rule,
            secret=secret,
            secret_start=start,
            secret_end=stop,
            match_start=match.start(),
            match_end=match.end(),
            entropy=entropy,
            confidence=confidence,
            validated=validated,
        )
