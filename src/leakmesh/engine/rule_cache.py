"""A validated ruleset kept on disk, keyed by the hash of its source files.

Parsing and validating some 450 rules (TOML, regex analysis, anchor derivation)
costs a few hundred milliseconds; loading this cache costs a few. The file is two
JSON lines, a header (source, digest) then the rules, so that a run which needs
only the digest (nothing new to scan) decodes no rule. A cache file that is
missing, stale or unreadable is rebuilt from the sources.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import blake3

from leakmesh import __version__
from leakmesh.engine.rules import Allowlist, Confidence, Rule, Ruleset

_FORMAT = "leakmesh-rules-v2"


def _encode(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": rule.name,
        "description": rule.description,
        "pattern": rule.pattern,
        "secret_group": rule.secret_group,
        "keywords": list(rule.keywords),
        "confidence": rule.confidence.value,
        "min_entropy": rule.min_entropy,
        "validator": rule.validator,
        "placeholder_filter": rule.placeholder_filter,
        "allow_regexes": list(rule.allowlist.regexes),
        "allow_stopwords": [w.decode("latin-1") for w in rule.allowlist.stopwords],
        "allow_paths": list(rule.allowlist.paths),
        "examples": list(rule.examples),
        "negative_examples": list(rule.negative_examples),
        "needs_prefilter": rule.needs_prefilter,
        "max_width": rule.max_width,
        "derived_anchors": [a.decode("latin-1") for a in rule.derived_anchors],
    }


def _decode(raw: dict[str, Any]) -> Rule:
    return Rule(
        id=raw["id"],
        name=raw["name"],
        description=raw["description"],
        pattern=raw["pattern"],
        secret_group=raw["secret_group"],
        keywords=tuple(raw["keywords"]),
        confidence=Confidence(raw["confidence"]),
        min_entropy=raw["min_entropy"],
        validator=raw["validator"],
        placeholder_filter=raw["placeholder_filter"],
        allowlist=Allowlist(
            regexes=tuple(raw["allow_regexes"]),
            stopwords=tuple(w.encode("latin-1") for w in raw["allow_stopwords"]),
            paths=tuple(raw["allow_paths"]),
        ),
        examples=tuple(raw["examples"]),
        negative_examples=tuple(raw["negative_examples"]),
        needs_prefilter=raw["needs_prefilter"],
        max_width=raw["max_width"],
        derived_anchors=tuple(a.encode("latin-1") for a in raw["derived_anchors"]),
    )


_DERIVING_MODULES = ("rules.py", "anchors.py")
"""The code that derives cached fields (width, anchors): a change to it is a new key."""


def sources_key(files: Sequence[tuple[str, bytes]]) -> str:
    hasher = blake3.blake3(f"{_FORMAT}\0{__version__}".encode())
    engine = Path(__file__).parent
    for module in _DERIVING_MODULES:
        hasher.update((engine / module).read_bytes())
    for name, data in files:
        hasher.update(b"\0" + name.encode() + b"\0")
        hasher.update(data)
    return hasher.hexdigest()[:32]


def cached_ruleset(
    files: Sequence[tuple[str, bytes]], *, cache_dir: Path, parse: Callable[[], Ruleset]
) -> Ruleset:
    path = cache_dir / f"rules-{sources_key(files)}.json"
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        header_line, rules_line = path.read_bytes().split(b"\n", 1)
        header = json.loads(header_line)
        if not rules_line.strip():
            raise ValueError("truncated rule cache")

        def load() -> tuple[Rule, ...]:
            try:
                return tuple(_decode(r) for r in json.loads(rules_line))
            except (ValueError, KeyError, TypeError):  # damaged after its header
                return parse().rules

        return Ruleset(source=header["source"], digest=header["digest"], load=load)
    ruleset = parse()
    import tempfile  # only on a miss: a hit is on every start-up path

    with contextlib.suppress(OSError):
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".rules-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"source": ruleset.source, "digest": ruleset.digest}, handle)
            handle.write("\n")
            json.dump([_encode(r) for r in ruleset.rules], handle)
        os.replace(tmp, path)
    return ruleset
