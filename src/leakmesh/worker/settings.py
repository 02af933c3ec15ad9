"""Resolve options from command-line flags and ``LEAKMESH_*`` environment variables.

A flag, when given, wins unconditionally: its variable is then not even read, so
a malformed variable cannot break an explicit flag. A bad value raises
`ConfigError` naming the flag or the variable; the CLI turns that into exit 2.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from msgspec import Struct

T = TypeVar("T")

ENV_PREFIX = "LEAKMESH_"

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


class ConfigError(Exception):
    """Invalid configuration; the message is one line naming the option."""


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("expected true/false, yes/no, on/off or 1/0")


def int_in_range(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.strip(), 10)
        except ValueError:
            raise ValueError("expected an integer") from None
        if not low <= value <= high:
            raise ValueError(f"expected {low}..{high}")
        return value

    return parse


def choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return value

    return parse


def float_in_range(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise ValueError("expected a number") from None
        if not low <= value <= high:  # also rejects nan and inf
            raise ValueError(f"expected {low:g}..{high:g}")
        return value

    return parse


_SIZE_RE = re.compile(r"^\s*(\d+)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def byte_size(low: int, high: int) -> Callable[[str], int]:
    """Sizes like ``4096``, ``512K``, ``64MiB``, ``1G`` (binary units)."""

    def parse(text: str) -> int:
        match = _SIZE_RE.match(text)
        if not match:
            raise ValueError("expected a size such as 4096, 512K, 64M or 1G")
        value = int(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]
        if not low <= value <= high:
            raise ValueError(f"expected {low}..{high} bytes")
        return value

    return parse


def hex_key(length: int) -> Callable[[str], bytes]:
    """Exactly `length` bytes as hex, optional ``0x``; never echoes the value."""

    def parse(text: str) -> bytes:
        body = text.strip()
        body = body[2:] if body[:2].lower() == "0x" else body
        if len(body) != 2 * length or not re.fullmatch(r"[0-9a-fA-F]+", body):
            raise ValueError(f"expected {length} bytes as {2 * length} hex digits")
        return bytes.fromhex(body)

    return parse


class Option(Struct, Generic[T], frozen=True):
    """One setting: its flag, its variable, how to parse it, its default."""

    flag: str
    env: str
    parse: Callable[[str], T]
    default: T
    secret: bool = False

    def resolve(self, flag_value: str | T | None, environ: Mapping[str, str]) -> T:
        if flag_value is not None:
            if not isinstance(flag_value, str):
                return flag_value
            return self._parse(flag_value, self.flag)
        raw = environ.get(self.env)
        if raw is None or raw == "":
            return self.default
        return self._parse(raw, self.env)

    def _parse(self, text: str, name: str) -> T:
        try:
            return self.parse(text)
        except ValueError as exc:
            shown = "" if self.secret else f" {text!r}"
            raise ConfigError(f"invalid {name}{shown}: {exc}") from None


def env_name(flag: str) -> str:
    return ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper()
