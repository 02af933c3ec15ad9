from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leakmesh.worker.settings import (
    ConfigError,
    Option,
    byte_size,
    choice,
    hex_key,
    int_in_range,
    parse_bool,
)

JOBS = Option("--jobs", "LEAKMESH_JOBS", int_in_range(1, 64), 0)


def test_flag_wins_over_a_malformed_variable() -> None:
    assert JOBS.resolve("4", {"LEAKMESH_JOBS": "not-a-number"}) == 4


def test_variable_used_when_no_flag() -> None:
    assert JOBS.resolve(None, {"LEAKMESH_JOBS": "3"}) == 3


def test_default_when_neither() -> None:
    assert JOBS.resolve(None, {}) == 0
    assert JOBS.resolve(None, {"LEAKMESH_JOBS": ""}) == 0


def test_bad_variable_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="LEAKMESH_JOBS"):
        JOBS.resolve(None, {"LEAKMESH_JOBS": "many"})


def test_bad_flag_names_the_flag() -> None:
    with pytest.raises(ConfigError, match="--jobs"):
        JOBS.resolve("65", {})


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("YES", True),
        ("on", True),
        ("1", True),
        ("false", False),
        ("No", False),
        ("off", False),
        ("0", False),
    ],
)
def test_booleans(text: str, value: bool) -> None:
    assert parse_bool(text) is value


def test_bad_boolean() -> None:
    with pytest.raises(ValueError, match="true/false"):
        parse_bool("maybe")


@pytest.mark.parametrize(
    ("text", "value"),
    [("4096", 4096), ("512K", 512 * 1024), ("64M", 64 << 20), ("64MiB", 64 << 20), ("1g", 1 << 30)],
)
def test_sizes(text: str, value: int) -> None:
    assert byte_size(1, 1 << 40)(text) == value


def test_size_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"1\.\.1024"):
        byte_size(1, 1024)("2K")


def test_choice_is_case_insensitive() -> None:
    assert choice("json", "text")("JSON") == "json"


def test_secret_option_never_echoes_its_value() -> None:
    key = Option(
        "LEAKMESH_TENANT_SECRET_KEY", "LEAKMESH_TENANT_SECRET_KEY", hex_key(32), b"", secret=True
    )
    canary = "CANARY-not-hex-0123456789"
    with pytest.raises(ConfigError) as info:
        key.resolve(None, {"LEAKMESH_TENANT_SECRET_KEY": canary})
    assert canary not in str(info.value)
    assert "LEAKMESH_TENANT_SECRET_KEY" in str(info.value)


def test_hex_key_accepts_0x_prefix() -> None:
    assert hex_key(2)("0xABcd") == b"\xab\xcd"


@given(st.text(max_size=40))
def test_parsers_raise_only_value_error(text: str) -> None:
    for parse in (parse_bool, int_in_range(0, 10), byte_size(1, 1 << 40), hex_key(32), choice("a")):
        with contextlib.suppress(ValueError):
            parse(text)
