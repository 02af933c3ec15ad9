from __future__ import annotations

import base64
import binascii
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from leakmesh.engine.decoders import encoded_runs
from leakmesh.engine.matcher import Matcher

TEXT = b"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYzq9x3Lm2Tw"  # leakmesh:allow


def _runs(data: bytes, engine_matcher: Matcher) -> list[tuple[str, bytes]]:
    hits = engine_matcher.scan(data, engine_matcher.scratch())
    return [(r.encoding, r.decoded) for r in encoded_runs(data, hits.triggers)]


def test_base64_run_is_decoded(engine) -> None:  # type: ignore[no-untyped-def]
    data = b'blob: "' + base64.b64encode(TEXT) + b'"\n'
    assert ("base64", TEXT) in _runs(data, engine.matcher)


def test_urlsafe_base64_run_is_decoded(engine) -> None:  # type: ignore[no-untyped-def]
    text = b"token=??>>??>>??>>hello world secret value"
    data = b"x " + base64.urlsafe_b64encode(text) + b"\n"
    assert ("base64", text) in _runs(data, engine.matcher)


def test_hex_run_is_decoded(engine) -> None:  # type: ignore[no-untyped-def]
    data = b"payload=" + binascii.hexlify(TEXT) + b";"
    assert ("hex", TEXT) in _runs(data, engine.matcher)


def test_percent_run_is_decoded(engine) -> None:  # type: ignore[no-untyped-def]
    url = "postgres://app:" + quote("p@ss/w0rd!x", safe="") + "@db.internal/app"
    data = f'DATABASE_URL="{url}"'.encode()
    decoded = dict(_runs(data, engine.matcher))
    assert decoded["percent"] == b"postgres://app:p@ss/w0rd!x@db.internal/app"


def test_identifiers_are_not_decoded(engine) -> None:  # type: ignore[no-untyped-def]
    data = (
        b"def test_run_call_order__error_in_setUp(self): return long_identifier_without_meaning\n"
    )
    assert _runs(data, engine.matcher) == []


@given(st.binary(max_size=400))
def test_never_raises(data: bytes) -> None:
    list(encoded_runs(data, {"base64": [24, len(data)], "hex": [32], "percent": [3]}))
