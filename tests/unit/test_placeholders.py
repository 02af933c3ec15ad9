from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leakmesh.engine.placeholders import is_placeholder

PLACEHOLDERS = [
    "changeme",
    "CHANGEME",
    "change_me_please",
    "${DB_PASSWORD}",
    "${DB_PASSWORD:-secret}",
    "$DB_PASSWORD",
    "{{ db_password }}",
    "%(password)s",
    "<password>",
    "<your-api-key>",
    "[PASSWORD]",
    "xxxxxxxx",
    "XXXXXXXXXXXX",
    "********",
    "example-secret",
    "my_dummy_pass",
    "your-token-here",
    "YourPasswordHere",
    "placeholder",
    "test",
    "test1234",
    "password",
    "Password123",
    "12345678",
    "abcdefgh",
    "aaaaaaaa",
    "os.environ['DB_PASSWORD']",
    "process.env.API_TOKEN",
    "self.password",
    "config.db.password",
    "/run/secrets/db_password",
    "__PASSWORD__",
    "None",
    "null",
    "true",
    "",
]

REAL = [
    "Xk9#mPq2$vL7",
    "hV3pR8sT1qW6zY4u",
    "S3cur3P@ssw0rd!",
    "8f3kd93jf02kd9s",
    "qZ7!vN2@wR5#",
    "Tr0ub4dor&3",
    "aB3xY9zQ2wE5rT7u",
]


@pytest.mark.parametrize("value", PLACEHOLDERS)
def test_placeholders_are_recognised(value: str) -> None:
    assert is_placeholder(value.encode())


@pytest.mark.parametrize("value", REAL)
def test_realistic_secrets_are_not_placeholders(value: str) -> None:
    assert not is_placeholder(value.encode())


@given(st.binary(max_size=200))
def test_never_raises(value: bytes) -> None:
    is_placeholder(value)
