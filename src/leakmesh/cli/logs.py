"""One-line structured events on stderr, in logfmt, with stable event names."""

from __future__ import annotations

import sys


def _value(value: object) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' ="'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def log_event(event: str, **fields: object) -> None:
    """``level=info event=<event> key=value …`` on stderr (``level=`` may be passed)."""
    level = fields.pop("level", "info")
    parts = [f"level={level}", f"event={event}"]
    parts.extend(f"{key}={_value(value)}" for key, value in fields.items())
    print(" ".join(parts), file=sys.stderr, flush=True)
