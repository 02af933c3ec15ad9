"""The engine: the ruleset and options every scanner shares.

`Engine` is cheap to build: the compiled Hyperscan database and the scanning
code are loaded on first use, so a run with nothing new to look at (an
incremental rescan) pays for neither. Each thread or process scans through its
own `BufferScanner` (`leakmesh.engine.scanner`), which owns a Hyperscan scratch.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from leakmesh.engine.anchors import AnchorMode
from leakmesh.engine.fingerprint import DEFAULT_TENANT_KEY, TENANT_KEY_BYTES, policy_hash
from leakmesh.engine.values import WithSecretFields

if TYPE_CHECKING:
    from leakmesh.engine.matcher import Matcher
    from leakmesh.engine.rules import Ruleset
    from leakmesh.engine.scanner import BufferScanner

DEFAULT_DECODE_DEPTH = 2
MAX_DECODE_DEPTH = 8


class EngineOptions(WithSecretFields, frozen=True):
    secret_fields: ClassVar[frozenset[str]] = frozenset({"tenant_key"})

    decode_depth: int = DEFAULT_DECODE_DEPTH
    anchor_mode: AnchorMode = AnchorMode.DERIVED
    tenant_key: bytes = DEFAULT_TENANT_KEY
    cache_dir: Path | None = None
    """Where the compiled Hyperscan database is cached; None compiles every time."""

    def __post_init__(self) -> None:
        if not 0 <= self.decode_depth <= MAX_DECODE_DEPTH:
            raise ValueError(f"decode depth must be 0..{MAX_DECODE_DEPTH}")
        if len(self.tenant_key) != TENANT_KEY_BYTES:
            raise ValueError(f"tenant key must be {TENANT_KEY_BYTES} bytes")


class Engine:
    def __init__(self, *, ruleset: Ruleset, options: EngineOptions) -> None:
        self.ruleset = ruleset
        self.options = options
        self._matcher: Matcher | None = None
        self._lock = threading.Lock()

    @property
    def matcher(self) -> Matcher:
        """The compiled database, loaded on first use."""
        if self._matcher is None:
            with self._lock:
                if self._matcher is None:
                    from leakmesh.engine.matcher import Matcher

                    self._matcher = Matcher(
                        ruleset=self.ruleset,
                        anchor_mode=self.options.anchor_mode,
                        cache_dir=self.options.cache_dir,
                    )
        return self._matcher

    def prepare_for_fork(self) -> None:
        """Before forking scanning processes: with a disk cache, make sure the
        database is in it and leave loading to each process (the parent, which
        does not scan, then holds no copy); without one, load it here so the
        processes inherit it instead of each compiling it."""
        cache_dir = self.options.cache_dir
        if cache_dir is None or self._matcher is not None:
            self.matcher  # noqa: B018
            return
        from leakmesh.engine.matcher import Matcher

        Matcher.ensure_cached(
            ruleset=self.ruleset, anchor_mode=self.options.anchor_mode, cache_dir=cache_dir
        )

    def policy_options(self) -> dict[str, object]:
        return {"decode_depth": self.options.decode_depth}

    def policy_hash(self, extra: Mapping[str, object]) -> str:
        """Hash of the ruleset and every option that changes what is found; `extra`
        carries the source options (binary, archives)."""
        return policy_hash(self.ruleset.content_hash(), {**self.policy_options(), **extra})

    def scanner(self) -> BufferScanner:
        from leakmesh.engine.scanner import BufferScanner

        return BufferScanner(self)
