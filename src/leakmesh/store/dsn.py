"""Datastore DSNs: ``sqlite:///relative.db``, ``sqlite:////abs/path.db`` and
``postgresql://user:password@host:port/db?sslmode=…``. A DSN's password never
appears in a repr, a log line or an error: use `redact`."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from msgspec import Struct

from leakmesh.store.errors import StoreError

_PASSWORD_RE = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<password>[^@\s]*)(?P<tail>@)", re.I
)
_KEYWORD_PASSWORD_RE = re.compile(r"(?i)(password\s*=\s*)('[^']*'|\S+)")


def redact(dsn: str) -> str:
    """The DSN with any password replaced by ``***``."""
    text = _PASSWORD_RE.sub(r"\g<head>***\g<tail>", dsn)
    return _KEYWORD_PASSWORD_RE.sub(r"\1***", text)


class Dsn(Struct, frozen=True):
    kind: str
    """``sqlite`` or ``postgresql``."""
    value: str
    """For sqlite: the database file path; for postgresql: the conninfo URL."""

    def __repr__(self) -> str:
        return f"Dsn(kind={self.kind!r}, value={redact(self.value)!r})"

    def __rich_repr__(self) -> list[tuple[str, object]]:
        return [("kind", self.kind), ("value", redact(self.value))]

    __str__ = __repr__

    @property
    def path(self) -> Path:
        return Path(self.value)


def parse_dsn(text: str) -> Dsn:
    if text.startswith("sqlite://"):
        rest = text.removeprefix("sqlite://")
        if not rest.startswith("/") or rest == "/":
            raise StoreError(f"invalid sqlite DSN {redact(text)!r}: expected sqlite:///path.db")
        return Dsn("sqlite", rest[1:] or rest)
    scheme = urlsplit(text).scheme.lower()
    if scheme in ("postgresql", "postgres"):
        return Dsn("postgresql", text)
    raise StoreError(
        f"unsupported datastore DSN {redact(text)!r}: expected sqlite:///path.db or postgresql://…"
    )
