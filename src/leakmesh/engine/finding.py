"""The `Finding` model: what was found, where, and its stable identity."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from msgspec import Struct

from leakmesh.engine.values import WithSecretFields

if TYPE_CHECKING:
    from leakmesh.engine.rules import Confidence


class Secret:
    """Raw secret bytes that never print: repr and str are masked.

    Only an explicit `reveal()` (the local CLI's ``--show-secrets``) gives them out.
    """

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = value

    def reveal(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return "Secret(<redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[type[Secret], tuple[bytes]]:
        return (Secret, (self._value,))


class CommitInfo(Struct, frozen=True):
    """The commit that introduced a blob at a path (history scans)."""

    commit: str
    author_name: str
    author_email: str
    date: str
    path: str

    def __reduce__(self) -> tuple[type[CommitInfo], tuple[str, str, str, str, str]]:
        # Rebuilt through the constructor: half the cost of the dataclass state
        # protocol when every blob of a history goes to a scanning process.
        return CommitInfo, (self.commit, self.author_name, self.author_email, self.date, self.path)


class Location(Struct, frozen=True):
    path: str
    line: int
    """1-based line of the secret's first byte (of the encoded run when decoded)."""
    column: int
    """1-based byte column."""
    start: int
    """Byte offset of the secret (of the outer encoded run when decoded)."""
    end: int
    object_id: str | None = None
    commit: CommitInfo | None = None


class Finding(WithSecretFields, frozen=True):
    secret_fields: ClassVar[frozenset[str]] = frozenset({"secret"})
    """Its repr says which secret only by fingerprint and redacted preview."""

    rule_id: str
    rule_name: str
    fingerprint: str
    preview: str
    confidence: Confidence
    entropy: float
    location: Location
    secret: Secret
    decoded: tuple[str, ...] = ()
    """Decodings applied to reach the secret, outermost first (e.g. ``("base64",)``)."""
    validated: bool | None = None
