"""Structured JSON log lines on stderr with stable event names (SPEC §8)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import TextIO


class JsonLog:
    def __init__(self, *, stream: TextIO | None = None, **context: object) -> None:
        self._stream = stream
        self._context = context

    def __call__(self, event: str, /, **fields: object) -> None:
        level = fields.pop("level", "info")
        record = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": level,
            "event": event,
            **self._context,
            **fields,
        }
        stream = self._stream or sys.stderr
        stream.write(json.dumps(record, default=str, separators=(",", ":")) + "\n")
        stream.flush()
