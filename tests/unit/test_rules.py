from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from leakmesh.cli.rules_cmd import run_check
from leakmesh.engine.errors import RuleError
from leakmesh.engine.rules import MAX_MATCH_WIDTH, Ruleset, load_rules_file, parse_rules_toml
from leakmesh.engine.validators import VALIDATORS

MIN_BUILTIN_RULES = 200


def parse(text: str):  # type: ignore[no-untyped-def]
    return parse_rules_toml(text, where="t.toml", validators=VALIDATORS)


RULE = """
[[rule]]
id = "acme-key"
name = "Acme key"
pattern = '''acme_([a-z0-9]{16})'''
keywords = ["acme_"]
examples = ["acme_0123456789abcdef"]
"""


def test_a_valid_rule_parses() -> None:
    [rule] = parse(RULE)
    assert rule.secret_group == 1 and rule.max_width == 21 and not rule.needs_prefilter


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("acme-key", "Acme Key!"), "kebab-case"),
        (("acme_([a-z0-9]{16})", "acme_([a-z0-9]+)"), "more than"),
        (("acme_([a-z0-9]{16})", "acme_([a-z0-9]{16}"), "does not compile"),
        (('keywords = ["acme_"]', 'keywords = ["acme_"]\nvalidator = "nope"'), "unknown validator"),
        (('keywords = ["acme_"]', 'keywords = ["acme_"]\nsecret_group = 4'), "not a group"),
        (('keywords = ["acme_"]', 'keywords = ["acme_"]\ncolour = "red"'), "unknown key"),
        (('examples = ["acme_0123456789abcdef"]', ""), "example is required"),
    ],
)
def test_invalid_rules_are_rejected_with_the_reason(change: tuple[str, str], message: str) -> None:
    with pytest.raises(RuleError, match=message):
        parse(RULE.replace(*change))


def test_lookarounds_need_prefilter() -> None:
    [rule] = parse(RULE.replace("acme_([a-z0-9]{16})", "(?<![a-z])acme_([a-z0-9]{16})"))
    assert rule.needs_prefilter


def test_user_rules_file_replaces_or_extends(tmp_path: Path, builtin_rules: Ruleset) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(RULE)
    assert [r.id for r in load_rules_file(path).rules] == ["acme-key"]
    path.write_text("extend_builtin = true\n" + RULE)
    assert len(load_rules_file(path)) == len(builtin_rules) + 1


def test_builtin_rules_are_many_bounded_and_anchored(builtin_rules: Ruleset) -> None:
    assert len(builtin_rules) >= MIN_BUILTIN_RULES
    for rule in builtin_rules.rules:
        assert rule.keywords, rule.id
        assert rule.max_width <= MAX_MATCH_WIDTH
        assert rule.examples and rule.negative_examples, rule.id


def test_rules_check_passes_on_the_builtin_rules(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEAKMESH_CACHE_DIR", str(tmp_path))
    args = argparse.Namespace(rules_file=None, decode_depth=None, anchor_mode=None)
    code = run_check(args)
    out = capsys.readouterr().out
    assert code == 0, out
    assert " 0 problems" in out


@pytest.mark.parametrize(
    ("pattern", "needs"),
    [
        (r"a{4,256}", False),
        (r"(?:ab){5,11}c", False),
        (r"a(?=b)", True),
        (r"(?:x|(?<!y)z)", True),
        (r"(a)\1", True),
    ],
)
def test_prefilter_only_for_lookarounds_and_backreferences(pattern: str, needs: bool) -> None:
    [rule] = parse(
        RULE.replace("acme_([a-z0-9]{16})", pattern).replace(
            "acme_0123456789abcdef", "ab" * 11 + "c"
        )
    )
    assert rule.needs_prefilter is needs
