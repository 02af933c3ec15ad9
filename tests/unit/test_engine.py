from __future__ import annotations

import base64
import pickle
from pathlib import Path

import pytest
from rich.pretty import pretty_repr

from leakmesh.engine.anchors import AnchorMode
from leakmesh.engine.engine import Engine, EngineOptions
from leakmesh.engine.fingerprint import DEFAULT_TENANT_KEY, fingerprint
from leakmesh.engine.rules import Confidence, Ruleset, parse_rules_toml
from leakmesh.engine.validators import VALIDATORS
from support import github_token

TOKEN = github_token(7)


def scan(engine: Engine, text: str, path: str = "app/config.py"):  # type: ignore[no-untyped-def]
    return engine.scanner().scan(text.encode(), path=path)


def _only_github(findings):  # type: ignore[no-untyped-def]
    return [f for f in findings if f.rule_id == "github-pat-classic"]


def test_finding_carries_location_identity_and_preview(engine: Engine) -> None:
    text = f"import os\n\nGITHUB_TOKEN = '{TOKEN}'\n"
    [finding] = _only_github(scan(engine, text))
    assert finding.location.path == "app/config.py"
    assert (finding.location.line, finding.location.column) == (3, 17)
    assert text.encode()[finding.location.start : finding.location.end] == TOKEN.encode()
    assert finding.fingerprint == fingerprint("github-pat-classic", TOKEN.encode())
    assert finding.preview.startswith("ghp_") and TOKEN not in finding.preview
    assert finding.confidence is Confidence.HIGH and finding.validated is True


def test_invalid_checksum_lowers_confidence(engine: Engine) -> None:
    broken = TOKEN[:-1] + ("Q" if TOKEN[-1] != "Q" else "R")
    [finding] = _only_github(scan(engine, f"token = '{broken}'"))
    assert finding.validated is False
    assert finding.confidence is Confidence.LOW


def test_fingerprint_is_stable_across_line_moves(engine: Engine) -> None:
    first = _only_github(scan(engine, f"a = '{TOKEN}'"))[0]
    moved = _only_github(scan(engine, f"\n\n\n# moved\nb = '{TOKEN}'"))[0]
    assert first.fingerprint == moved.fingerprint
    assert first.location.line != moved.location.line


def test_tenant_key_changes_fingerprints(builtin_rules: Ruleset, hs_cache: Path) -> None:
    keyed = Engine(
        ruleset=builtin_rules, options=EngineOptions(tenant_key=b"k" * 32, cache_dir=hs_cache)
    )
    [finding] = _only_github(keyed.scanner().scan(TOKEN.encode(), path="x"))
    assert finding.fingerprint != fingerprint(
        "github-pat-classic", TOKEN.encode(), key=DEFAULT_TENANT_KEY
    )


@pytest.mark.parametrize("marker", ["leakmesh:allow", "gitleaks:allow"])
def test_inline_allow_suppresses_that_line_only(engine: Engine, marker: str) -> None:
    text = f"a = '{TOKEN}'  # {marker}\nb = '{TOKEN}'\n"
    findings = _only_github(scan(engine, text))
    assert [f.location.line for f in findings] == [2]


def test_secret_inside_base64_reports_the_chain_and_outer_location(engine: Engine) -> None:
    encoded = base64.b64encode(f"export GITHUB_TOKEN={TOKEN}\n".encode()).decode()
    text = f"# setup\nblob: {encoded}\n"
    [finding] = _only_github(scan(engine, text))
    assert finding.decoded == ("base64",)
    assert finding.location.line == 2 and finding.location.column == 7


def test_decode_depth_zero_does_not_decode(builtin_rules: Ruleset, hs_cache: Path) -> None:
    shallow = Engine(
        ruleset=builtin_rules, options=EngineOptions(decode_depth=0, cache_dir=hs_cache)
    )
    encoded = base64.b64encode(f"token={TOKEN}".encode()).decode()
    assert _only_github(shallow.scanner().scan(encoded.encode(), path="x")) == []


def test_nested_encodings_up_to_depth(engine: Engine) -> None:
    inner = base64.b64encode(f"token: {TOKEN}".encode())
    outer = base64.b64encode(b"config=" + inner + b"\n").decode()
    [finding] = _only_github(scan(engine, f"data = {outer}"))
    assert finding.decoded == ("base64", "base64")


def test_engine_options_never_show_the_tenant_key() -> None:
    key = bytes(range(7, 39))
    options = EngineOptions(tenant_key=key)
    for text in (repr(options), str(options), pretty_repr(options)):
        assert repr(key) not in text and key.hex() not in text and "tenant_key" not in text
    assert "decode_depth=" in repr(options)


def test_secret_never_appears_in_repr_or_str(engine: Engine) -> None:
    [finding] = _only_github(scan(engine, f"t = '{TOKEN}'"))
    assert TOKEN not in repr(finding) and TOKEN not in str(finding)
    assert TOKEN not in pretty_repr(finding) and "secret" not in pretty_repr(finding)
    assert finding.secret.reveal() == TOKEN.encode()
    assert pickle.loads(pickle.dumps(finding)).secret.reveal() == TOKEN.encode()


def test_anchor_modes_find_the_same_secrets_on_every_example(
    builtin_rules: Ruleset, hs_cache: Path
) -> None:
    engines = {
        mode: Engine(
            ruleset=builtin_rules, options=EngineOptions(anchor_mode=mode, cache_dir=hs_cache)
        ).scanner()
        for mode in AnchorMode
    }
    corpus = "\n".join(
        example for rule in builtin_rules.rules for example in rule.examples
    ).encode()
    found = {
        mode: sorted(
            (f.rule_id, f.fingerprint, f.location.start) for f in s.scan(corpus, path="all.txt")
        )
        for mode, s in engines.items()
    }
    assert found[AnchorMode.MANUAL] == found[AnchorMode.DERIVED]
    assert len(found[AnchorMode.DERIVED]) >= len(builtin_rules)


def test_generic_rule_yields_to_a_specific_one(engine: Engine) -> None:
    findings = scan(engine, f'password = "{TOKEN}"\n')
    assert [f.rule_id for f in findings] == ["github-pat-classic"]


def test_rule_path_allowlist(hs_cache: Path) -> None:
    [rule] = parse_rules_toml(
        """
[[rule]]
id = "acme-key"
name = "Acme key"
pattern = '''acme_[a-z0-9]{16}'''
keywords = ["acme_"]
examples = ["acme_0123456789abcdef"]
[rule.allowlist]
paths = ['''(^|/)fixtures/''']
""",
        where="test",
        validators=VALIDATORS,
    )
    engine = Engine(ruleset=Ruleset((rule,), "test"), options=EngineOptions(cache_dir=hs_cache))
    data = b"k = acme_0123456789abcdef"
    assert engine.scanner().scan(data, path="src/a.py")
    assert not engine.scanner().scan(data, path="tests/fixtures/a.py")
