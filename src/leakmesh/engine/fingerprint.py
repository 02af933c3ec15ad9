"""Identity of findings and policies: keyed fingerprints, redacted previews, hashes.

Fingerprints are BLAKE3 keyed hashes of (rule id, secret). Without a configured
tenant key a fixed public key is used, so that a baseline made on one machine
matches on another; only a private tenant key makes fingerprints resistant to
guessing (anyone can hash a candidate secret under the public key).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

import blake3

from leakmesh import __version__

if TYPE_CHECKING:
    from leakmesh.engine.rules import Ruleset

TENANT_KEY_BYTES = 32
DEFAULT_TENANT_KEY = blake3.blake3(b"leakmesh public default fingerprint key v1").digest()
"""The public default key: portable fingerprints, no secrecy."""

FINGERPRINT_HEX_CHARS = 32
PREVIEW_VISIBLE_CHARS = 4
PREVIEW_MASK_CHARS = 8


def fingerprint(rule_id: str, secret: bytes, *, key: bytes = DEFAULT_TENANT_KEY) -> str:
    """Stable identity of one secret under one rule; contains no location."""
    hasher = blake3.blake3(key=key)
    hasher.update(rule_id.encode())
    hasher.update(b"\x00")
    hasher.update(secret)
    return hasher.hexdigest()[:FINGERPRINT_HEX_CHARS]


def redacted_preview(secret: bytes) -> str:
    """A few leading characters, the rest masked; never more than a quarter shown."""
    text = secret.decode("utf-8", errors="replace")
    visible = min(PREVIEW_VISIBLE_CHARS, len(text) // 4)
    return text[:visible].replace("\n", " ") + "*" * PREVIEW_MASK_CHARS


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def ruleset_hash(ruleset: Ruleset) -> str:
    """Hash of everything in the rules that changes what is found."""
    described = [
        {
            "id": r.id,
            "pattern": r.pattern,
            "group": r.secret_group,
            "keywords": list(r.keywords),
            "confidence": r.confidence.value,
            "min_entropy": r.min_entropy,
            "validator": r.validator,
            "placeholder_filter": r.placeholder_filter,
            "allow_regexes": list(r.allowlist.regexes),
            "allow_stopwords": [w.decode() for w in r.allowlist.stopwords],
            "allow_paths": list(r.allowlist.paths),
        }
        for r in ruleset.rules
    ]
    return blake3.blake3(_canonical({"engine": __version__, "rules": described})).hexdigest()


def policy_hash(ruleset_digest: str, options: Mapping[str, object]) -> str:
    """32-byte hex hash of the ruleset and every option that changes what is found."""
    return blake3.blake3(
        _canonical({"rules": ruleset_digest, "options": dict(options)})
    ).hexdigest()
