from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leakmesh.engine.anchors import derive_anchors
from leakmesh.engine.matcher import hyperscan_form


@pytest.mark.parametrize(
    ("pattern", "anchors"),
    [
        (r"\b(ghp_[A-Za-z0-9]{36})\b", (b"ghp_",)),
        (r"(?:xox[bp])-[0-9]{10}", (b"xoxb-", b"xoxp-")),
        (r"(?:sk|rk)_live_[0-9a-z]{24}", (b"rk_live_", b"sk_live_")),
        (r"(?i)(?:AKIA|ASIA)[A-Z0-9]{16}", (b"akia", b"asia")),
        (r"-{5}BEGIN RSA PRIVATE KEY-{5}", (b"-----begin rsa private key-----",)),
        (r"[a-f0-9]{32}", ()),
        (r"(?:foo|b)ar_token", (b"bar_token", b"fooar_token")),
    ],
)
def test_derived_anchors(pattern: str, anchors: tuple[bytes, ...]) -> None:
    assert derive_anchors(pattern) == anchors


def test_every_builtin_example_contains_a_derived_anchor(builtin_rules) -> None:  # type: ignore[no-untyped-def]
    for rule in builtin_rules.rules:
        anchors = derive_anchors(rule.pattern)
        for example in rule.examples:
            lowered = example.lower().encode()
            assert not anchors or any(a in lowered for a in anchors), (rule.id, example)


@pytest.mark.parametrize(
    "pattern",
    [
        r"a[bc]{2,100}d",
        r"x(?:ab|c){0,80}?y",
        r"[]{1,99}]{3,70}z",
        r"\{1,99}q{1,65}",
        r"[^\n]{0,400}key=[a-f0-9]{64,128}",
    ],
)
@given(text=st.text(alphabet="abcdxyz]{}19,q\nkey=0f", max_size=300))
def test_hyperscan_form_matches_a_superset(pattern: str, text: str) -> None:
    exact = re.compile(pattern)
    widened = re.compile(hyperscan_form(pattern))
    for match in exact.finditer(text):
        assert widened.search(text, match.start()) is not None
