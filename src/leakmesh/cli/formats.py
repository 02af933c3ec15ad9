"""Report formats: text, json, jsonl, csv (SARIF lives in `sarif.py`).

Raw secrets appear only when `show_secrets` is set; otherwise a finding carries
its redacted preview and its fingerprint.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from leakmesh.engine.finding import Finding
    from leakmesh.runtime.stats import ScanResult

FORMATS = ("text", "json", "jsonl", "sarif", "csv")


def finding_dict(finding: Finding, *, show_secrets: bool) -> dict[str, object]:
    loc = finding.location
    out: dict[str, object] = {
        "rule_id": finding.rule_id,
        "rule_name": finding.rule_name,
        "path": loc.path,
        "line": loc.line,
        "column": loc.column,
        "start_offset": loc.start,
        "end_offset": loc.end,
        "fingerprint": finding.fingerprint,
        "preview": finding.preview,
        "confidence": finding.confidence.value,
        "entropy": finding.entropy,
        "validated": finding.validated,
        "decoded": list(finding.decoded),
        "object_id": loc.object_id,
    }
    if loc.commit is not None:
        out.update(
            commit=loc.commit.commit,
            author=loc.commit.author_name,
            email=loc.commit.author_email,
            date=loc.commit.date,
        )
    if show_secrets:
        out["secret"] = finding.secret.reveal().decode("utf-8", errors="replace")
    return out


def write_json(result: ScanResult, stream: IO[str], *, show_secrets: bool) -> None:
    document = {
        "findings": [finding_dict(f, show_secrets=show_secrets) for f in result.findings],
        "stats": result.stats.as_dict() | {"findings_suppressed": result.suppressed},
        "policy_hash": result.policy_hash,
    }
    json.dump(document, stream, indent=2)
    stream.write("\n")


def write_jsonl(findings: Sequence[Finding], stream: IO[str], *, show_secrets: bool) -> None:
    for finding in findings:
        stream.write(json.dumps(finding_dict(finding, show_secrets=show_secrets)) + "\n")
    stream.flush()


CSV_COLUMNS = (
    "rule_id",
    "rule_name",
    "path",
    "line",
    "column",
    "fingerprint",
    "preview",
    "confidence",
    "entropy",
    "validated",
    "decoded",
    "commit",
    "author",
    "email",
    "date",
)


def write_csv(result: ScanResult, stream: IO[str], *, show_secrets: bool) -> None:
    columns = (*CSV_COLUMNS, "secret") if show_secrets else CSV_COLUMNS
    writer = csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for finding in result.findings:
        row = finding_dict(finding, show_secrets=show_secrets)
        row["decoded"] = ">".join(finding.decoded)
        writer.writerow(row)


_COLORS = {"high": "\x1b[1;31m", "medium": "\x1b[33m", "low": "\x1b[36m"}
_BOLD, _DIM, _RESET = "\x1b[1m", "\x1b[2m", "\x1b[0m"


def write_text(result: ScanResult, stream: IO[str], *, show_secrets: bool, color: bool) -> None:
    def paint(code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if color else text

    for finding in result.findings:
        loc = finding.location
        confidence = finding.confidence.value
        checks = {True: " (checksum valid)", False: " (checksum invalid)", None: ""}
        lines = [
            paint(_BOLD, f"{loc.path}:{loc.line}:{loc.column}") + f"  {finding.rule_name}",
            f"    Rule:        {finding.rule_id}",
            f"    Secret:      {finding.preview}",
            f"    Confidence:  {paint(_COLORS[confidence], confidence)}{checks[finding.validated]}",
            f"    Fingerprint: {finding.fingerprint}",
        ]
        if finding.decoded:
            lines.append(f"    Decoded:     {' > '.join(finding.decoded)}")
        if loc.commit is not None:
            commit = loc.commit
            lines.append(f"    Commit:      {commit.commit[:12]}  {commit.date}")
            lines.append(f"    Author:      {commit.author_name} <{commit.author_email}>")
        if show_secrets:
            raw = finding.secret.reveal().decode("utf-8", errors="replace")
            lines.append(f"    Raw secret:  {paint(_COLORS['high'], raw)}")
        stream.write("\n".join(lines) + "\n\n")
    count = len(result.findings)
    summary = f"{count} finding{'s' if count != 1 else ''}"
    if result.suppressed:
        summary += f" ({result.suppressed} suppressed by the baseline)"
    stream.write(paint(_DIM, summary) + "\n")
