"""Value objects are msgspec ``Struct``s: making one of their classes costs
microseconds where a frozen dataclass costs about half a millisecond, paid by
every process at start-up (some forty classes on an incremental rescan's path).

A Struct shows every field in ``repr`` and in rich's pretty printing; a class
with a secret field shows the others through these two functions instead."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from msgspec import Struct


def shown_fields(value: Struct, hidden: frozenset[str]) -> list[tuple[str, object]]:
    """The fields not in `hidden`, as rich's ``__rich_repr__`` gives them."""
    return [(name, getattr(value, name)) for name in value.__struct_fields__ if name not in hidden]


def repr_without(value: Struct, hidden: frozenset[str]) -> str:
    shown = ", ".join(f"{name}={field!r}" for name, field in shown_fields(value, hidden))
    return f"{type(value).__name__}({shown})"
