"""Baselines: fingerprints of known findings that a scan does not report again.

A baseline file is JSON. `leakmesh baseline create` writes
``{"version": 1, "policy_hash": …, "fingerprints": [...]}``; a previous JSON
report (``{"findings": [{"fingerprint": …}, …]}``) is accepted as well.
Fingerprints hold no line numbers, so moved lines stay suppressed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from msgspec import Struct

if TYPE_CHECKING:
    from leakmesh.engine.finding import Finding

BASELINE_VERSION = 1


class BaselineError(Exception):
    """The baseline file cannot be used; the message says why in one line."""


class Baseline(Struct, frozen=True):
    fingerprints: frozenset[str] = frozenset()

    def suppresses(self, finding: Finding) -> bool:
        return finding.fingerprint in self.fingerprints


def load_baseline(path: Path) -> Baseline:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BaselineError(f"cannot read baseline {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise BaselineError(f"baseline {path} is not valid JSON: {exc}") from None
    if isinstance(document, dict) and isinstance(document.get("fingerprints"), list):
        values = document["fingerprints"]
    elif isinstance(document, dict) and isinstance(document.get("findings"), list):
        values = [f.get("fingerprint") for f in document["findings"] if isinstance(f, dict)]
    else:
        raise BaselineError(f"baseline {path} has neither 'fingerprints' nor 'findings'")
    if not all(isinstance(v, str) for v in values):
        raise BaselineError(f"baseline {path} holds a fingerprint that is not a string")
    return Baseline(frozenset(values))


def baseline_document(findings: Iterable[Finding], *, policy_hash: str) -> dict[str, object]:
    return {
        "version": BASELINE_VERSION,
        "policy_hash": policy_hash,
        "fingerprints": sorted({f.fingerprint for f in findings}),
    }
