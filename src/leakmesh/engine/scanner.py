"""A `BufferScanner`: bytes in, findings out, on one thread at a time.

Get one from `Engine.scanner()`; each owns a Hyperscan scratch, the engine's
compiled database is shared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from msgspec import Struct

from leakmesh.engine.confirm import RuleMatch, confirm, rule_applies_to_path
from leakmesh.engine.decoders import encoded_runs
from leakmesh.engine.finding import Finding, Location, Secret
from leakmesh.engine.fingerprint import fingerprint, redacted_preview

if TYPE_CHECKING:
    from leakmesh.engine.engine import Engine

INLINE_ALLOW_MARKERS = (b"leakmesh:allow", b"gitleaks:allow")
TRAILING_CONTEXT_BYTES = 256
"""Bytes after a window that `re` may look at, so lookaheads and boundaries at the
end of a match see the real text rather than an artificial end of input."""


class _Hit(Struct, frozen=True):
    match: RuleMatch
    start: int
    end: int
    decoded: tuple[str, ...]


class BufferScanner:
    """Scans buffers on one thread at a time."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._matcher = engine.matcher
        self._rules = engine.ruleset.rules
        self._scratch = engine.matcher.scratch()

    def scan(self, data: bytes, *, path: str, object_id: str | None = None) -> list[Finding]:
        hits = self._hits(data, path, depth=self._engine.options.decode_depth, outer=None, chain=())
        if not hits:
            return []
        return self._findings(data, _prefer_specific(hits), path=path, object_id=object_id)

    def _hits(
        self,
        data: bytes,
        path: str,
        *,
        depth: int,
        outer: tuple[int, int] | None,
        chain: tuple[str, ...],
    ) -> list[_Hit]:
        matcher = self._matcher
        scan = matcher.scan(data, self._scratch)
        found: list[_Hit] = []
        lowered: bytes | None = None
        size = len(data)
        for index, ends in scan.ends.items():
            if lowered is None:
                lowered = data.lower()
            if not matcher.anchored(index, lowered):
                continue
            rule = self._rules[index]
            if not rule_applies_to_path(rule, path):
                continue
            for low, high in matcher.windows(index, ends, size):
                endpos = min(size, high + TRAILING_CONTEXT_BYTES)
                for match in confirm(rule, data, pos=low, endpos=endpos):
                    start, end = outer or (match.secret_start, match.secret_end)
                    found.append(_Hit(match, start, end, chain))
        if depth > 0 and scan.triggers:
            for run in encoded_runs(data, scan.triggers):
                found.extend(
                    self._hits(
                        run.decoded,
                        path,
                        depth=depth - 1,
                        outer=outer or (run.start, run.end),
                        chain=(*chain, run.encoding),
                    )
                )
        return found

    def _findings(
        self, data: bytes, hits: list[_Hit], *, path: str, object_id: str | None
    ) -> list[Finding]:
        key = self._engine.options.tenant_key
        findings: dict[tuple[str, str, int], Finding] = {}
        for hit in sorted(hits, key=lambda h: (h.start, h.match.rule.id, len(h.decoded))):
            line_start = data.rfind(b"\n", 0, hit.start) + 1
            line_end = data.find(b"\n", hit.start)
            line = data[line_start : line_end if line_end >= 0 else len(data)]
            if any(marker in line for marker in INLINE_ALLOW_MARKERS):
                continue
            match = hit.match
            fp = fingerprint(match.rule.id, match.secret, key=key)
            identity = (match.rule.id, fp, hit.start)
            if identity in findings:
                continue
            findings[identity] = Finding(
                rule_id=match.rule.id,
                rule_name=match.rule.name,
                fingerprint=fp,
                preview=redacted_preview(match.secret),
                confidence=match.confidence,
                entropy=round(match.entropy, 3),
                location=Location(
                    path=path,
                    line=data.count(b"\n", 0, hit.start) + 1,
                    column=hit.start - line_start + 1,
                    start=hit.start,
                    end=hit.end,
                    object_id=object_id,
                ),
                secret=Secret(match.secret),
                decoded=hit.decoded,
                validated=match.validated,
            )
        return list(findings.values())


def _prefer_specific(hits: list[_Hit]) -> list[_Hit]:
    """Drop a generic rule's hit where a specific rule found a secret in the same span:
    one leak, one finding, from the rule that knows the format."""
    specific = [h for h in hits if not h.match.rule.placeholder_filter]
    if len(specific) == len(hits) or not specific:
        return hits
    spans = [(h.start, h.end) for h in specific]
    return [
        h
        for h in hits
        if not h.match.rule.placeholder_filter
        or not any(s < h.end and h.start < e for s, e in spans)
    ]
