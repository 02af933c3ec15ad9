from __future__ import annotations

import base64
import json

from hypothesis import given
from hypothesis import strategies as st

from leakmesh.engine.validators import base62_crc32_suffix, jwt_structure, pypi_macaroon
from support import github_token


def test_github_checksum_valid_and_invalid() -> None:
    token = github_token(1)
    assert base62_crc32_suffix(token.encode())
    broken = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert not base62_crc32_suffix(broken.encode())


def test_npm_token_uses_the_same_checksum() -> None:
    assert base62_crc32_suffix(github_token(2, prefix="npm_").encode())


def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def test_jwt_structure() -> None:
    token = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64({'sub': '42'})}.c2lnbmF0dXJl"
    assert jwt_structure(token.encode())
    assert not jwt_structure(b"eyJhbGciOi.eyJzdWIi.sig")
    assert not jwt_structure(f"{_b64({'typ': 'JWT'})}.{_b64({'sub': 1})}.x".encode())


def test_pypi_macaroon() -> None:
    assert pypi_macaroon(b"pypi-AgEIcHlwaS5vcmcCJGQ5YjQ4ZTk2LTg1ZjQtNDM0Yy1hYzUzLTUzZDhkZmU0")
    assert not pypi_macaroon(b"pypi-QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo")


@given(st.binary(max_size=120))
def test_validators_never_raise(value: bytes) -> None:
    for validate in (base62_crc32_suffix, jwt_structure, pypi_macaroon):
        assert validate(value) in (True, False)
