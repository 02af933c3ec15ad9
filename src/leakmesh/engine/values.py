"""Value objects are msgspec ``Struct``s: making one of their classes costs
microseconds where a frozen dataclass costs about half a millisecond, paid by
every process at start-up (some forty classes on an incremental rescan's path).

A Struct shows every field in ``repr`` and in rich's pretty printing; a value
object with secret fields derives from `WithSecretFields` and names them."""

from __future__ import annotations

from typing import ClassVar

from msgspec import Struct


class WithSecretFields(Struct, frozen=True):
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    """Fields left out of ``repr`` and of rich's pretty printing."""

    def __rich_repr__(self) -> list[tuple[str, object]]:
        return [
            (name, getattr(self, name))
            for name in self.__struct_fields__
            if name not in self.secret_fields
        ]

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.__rich_repr__())
        return f"{type(self).__name__}({shown})"
