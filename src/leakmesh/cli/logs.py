"""One-line structured events on stderr, in logfmt, with stable event names."""

from __future__ import annotations

import sys
from typing import IO


def _value(value: object) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' ="'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def log_event(
    event: str, *, level: str = "info", stream: IO[str] | None = None, **fields: object
) -> None:
    parts = [f"level={level}", f"event={event}"]
    parts.extend(f"{key}={_value(value)}" for key, value in fields.items())
    print(" ".join(parts), file=stream or sys.stderr, flush=True)
