"""A progress display on stderr for terminals; a no-op otherwise."""

from __future__ import annotations

from types import TracebackType
from typing import Any

MIB = 1024 * 1024


class Progress:
    def __init__(self, *, enabled: bool) -> None:
        self._enabled = enabled
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        if self._enabled:
            from rich.console import Console
            from rich.progress import Progress as RichProgress
            from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = RichProgress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("scanning", total=None)
        return self

    def update(self, files: int, bytes_done: int) -> None:
        if self._progress is not None:
            self._progress.update(
                self._task, description=f"scanning: {files} files, {bytes_done / MIB:.1f} MiB"
            )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
