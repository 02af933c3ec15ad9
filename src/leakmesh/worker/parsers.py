"""Parsers of worker setting values: each takes the text of a flag or variable and
returns the value or raises `ValueError` (`Option` turns that into a one-line
`ConfigError` naming the setting, never a secret value)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from pathlib import Path

from leakmesh.store.dsn import parse_dsn
from leakmesh.store.errors import StoreError
from leakmesh.worker.settings import (
    hex_key,
)

MIB = 1 << 20
GIB = 1 << 30

Endpoint = tuple[str, int]
"""An etcd endpoint as (host, port); an IPv6 host without brackets."""


_ENDPOINT_RE = re.compile(
    r"(?:http://)?(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?))"
    r":(?P<port>[0-9]{1,5})/?",
    re.IGNORECASE,
)
_NAMESPACE_RE = re.compile(r"[A-Za-z0-9._/-]+")


def parse_endpoints(text: str) -> tuple[Endpoint, ...]:
    """``host:port`` or ``http://host:port``, comma-separated (IPv6 as ``[addr]:port``)."""
    entries = text.split(",")
    endpoints: list[Endpoint] = []
    for number, entry in enumerate(entries, start=1):
        # The entry itself is not quoted back: a mistyped one may carry credentials.
        where = f"entry {number} of {len(entries)}"
        match = _ENDPOINT_RE.fullmatch(entry.strip())
        if match is None:
            raise ValueError(f"{where}: expected host:port or http://host:port")
        port = int(match.group("port"))
        if not 1 <= port <= 65535:
            raise ValueError(f"{where}: port must be 1..65535")
        host = match.group("host")
        if host is None:
            try:
                host = str(ipaddress.IPv6Address(match.group("v6")))
            except ValueError:
                raise ValueError(f"{where}: invalid IPv6 address") from None
        endpoints.append((host, port))
    return tuple(endpoints)


def parse_namespace(text: str) -> str:
    """Letters, digits and ``._/-``; stored without a trailing slash."""
    body = text.strip()
    if not _NAMESPACE_RE.fullmatch(body):
        raise ValueError("expected letters, digits and . _ / -")
    body = body.rstrip("/")
    if not body:
        raise ValueError("must not be empty or only slashes")
    return body


def parse_dsn_text(text: str) -> str:
    """A datastore DSN the store layer can open; the value is never quoted back."""
    dsn = text.strip()
    try:
        parse_dsn(dsn)
    except StoreError:
        raise ValueError("expected postgresql://…, postgres://… or sqlite:///path.db") from None
    return dsn


def hex_digest(length: int) -> Callable[[str], str]:
    """Exactly `length` bytes as hex (optional ``0x``), stored as lowercase hex."""
    parse_bytes = hex_key(length)

    def parse(text: str) -> str:
        return parse_bytes(text).hex()

    return parse


def parse_path(text: str) -> Path:
    if not text.strip():
        raise ValueError("must not be empty")
    return Path(text)


def parse_text(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def show_size(size: int) -> str:
    """`size` in the largest binary unit that divides it, as `byte_size` reads it."""
    for suffix, unit in (("T", 1 << 40), ("G", GIB), ("M", MIB), ("K", 1 << 10)):
        if size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)
