"""SARIF 2.1.0 report: one run, the rules that fired, one result per finding."""

from __future__ import annotations

import json
from typing import IO, TYPE_CHECKING
from urllib.parse import quote

from leakmesh import __version__

if TYPE_CHECKING:
    from leakmesh.engine.finding import Finding
    from leakmesh.engine.rules import Rule, Ruleset
    from leakmesh.runtime.stats import ScanResult

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "leakmesh/fingerprint/v1"
_LEVELS = {"high": "error", "medium": "warning", "low": "note"}


def _rule_descriptor(rule: Rule) -> dict[str, object]:
    return {
        "id": rule.id,
        "name": "".join(part.capitalize() for part in rule.id.split("-")),
        "shortDescription": {"text": rule.name},
        "fullDescription": {"text": rule.description or rule.name},
        "defaultConfiguration": {"level": _LEVELS[rule.confidence.value]},
        "properties": {"tags": ["security", "secret"], "confidence": rule.confidence.value},
    }


def _artifact_uri(path: str) -> str:
    return quote(path, safe="/!:@")


def _result(finding: Finding, rule_index: int) -> dict[str, object]:
    loc = finding.location
    message = f"{finding.rule_name} found: {finding.preview}"
    if finding.decoded:
        message += f" (inside {' > '.join(finding.decoded)}-encoded content)"
    result: dict[str, object] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": _LEVELS[finding.confidence.value],
        "message": {"text": message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": _artifact_uri(loc.path)},
                    "region": {"startLine": loc.line, "startColumn": loc.column},
                }
            }
        ],
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
        "properties": {
            "confidence": finding.confidence.value,
            "entropy": finding.entropy,
            "decoded": list(finding.decoded),
        },
    }
    if loc.commit is not None and loc.commit.commit:
        commit = loc.commit
        physical = result["locations"][0]["physicalLocation"]  # type: ignore[index]
        physical["artifactLocation"]["properties"] = {"commit": commit.commit}
        props = result["properties"]
        assert isinstance(props, dict)
        props.update(
            commit=commit.commit,
            author=commit.author_name,
            email=commit.author_email,
            date=commit.date,
        )
    return result


def sarif_document(
    result: ScanResult, ruleset: Ruleset, *, repository_uri: str | None = None
) -> dict[str, object]:
    by_id = ruleset.by_id()
    fired = sorted({f.rule_id for f in result.findings})
    index = {rule_id: i for i, rule_id in enumerate(fired)}
    run: dict[str, object] = {}
    if repository_uri is not None:
        run["versionControlProvenance"] = [{"repositoryUri": repository_uri}]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            run
            | {
                "tool": {
                    "driver": {
                        "name": "leakmesh",
                        "version": __version__,
                        "informationUri": "https://github.com/leakmesh/leakmesh",
                        "rules": [_rule_descriptor(by_id[rule_id]) for rule_id in fired],
                    }
                },
                "results": [_result(f, index[f.rule_id]) for f in result.findings],
                "properties": {"policy_hash": result.policy_hash, "stats": result.stats.as_dict()},
            }
        ],
    }


def write_sarif(
    result: ScanResult, stream: IO[str], *, ruleset: Ruleset, repository_uri: str | None = None
) -> None:
    json.dump(sarif_document(result, ruleset, repository_uri=repository_uri), stream, indent=2)
    stream.write("\n")
