"""Content options shared by `leakmesh scan` and `leakmesh worker` (what a filesystem
walk reads and how), and the datastore schema policy."""

from __future__ import annotations

from pathlib import Path

from msgspec import Struct

from leakmesh.sources.filesystem import DEFAULT_MAX_FILE_BYTES, IGNORE_FILE_NAME, FsSourceOptions
from leakmesh.worker.settings import ConfigError, Option, byte_size, choice, parse_bool

MAX_FILE_SIZE_BYTES = 1 << 40

SCAN_BINARY = Option("--scan-binary", "LEAKMESH_SCAN_BINARY", parse_bool, False)
SKIP_ARCHIVES = Option("--skip-archives", "LEAKMESH_SKIP_ARCHIVES", parse_bool, False)
NO_GITIGNORE = Option("--no-gitignore", "LEAKMESH_NO_GITIGNORE", parse_bool, False)
MAX_FILE_SIZE = Option(
    "--max-file-size",
    "LEAKMESH_MAX_FILE_SIZE",
    byte_size(1, MAX_FILE_SIZE_BYTES),
    DEFAULT_MAX_FILE_BYTES,
)
IGNORE_FILE = Option[str | None]("--ignore-file", "LEAKMESH_IGNORE_FILE", str, None)
SCHEMA_POLICY = Option(
    "--schema-policy", "LEAKMESH_SCHEMA_POLICY", choice("validate", "dev-auto-migrate"), "validate"
)


def load_ignore_patterns(*, root: Path, explicit: str | Path | None) -> tuple[str, ...]:
    """Patterns of the explicit ignore file, else of ``ROOT/.leakmeshignore`` when present."""
    candidate = Path(explicit) if explicit else root / IGNORE_FILE_NAME
    if explicit is None and not candidate.is_file():
        return ()
    try:
        lines = candidate.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read ignore file {candidate}: {exc.strerror}") from None
    return tuple(line for line in lines if line.strip() and not line.lstrip().startswith("#"))


class ContentSettings(Struct, frozen=True):
    """The walk and content options, before the root they apply to is known (a
    connector worker learns it from the run)."""

    scan_binary: bool = False
    skip_archives: bool = False
    respect_gitignore: bool = True
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    ignore_file: Path | None = None
    """None: ``ROOT/.leakmeshignore`` when the root has one."""

    def source_options(self, *, root: Path) -> FsSourceOptions:
        """Reads the ignore file; `ConfigError` when it cannot be read."""
        return FsSourceOptions(
            respect_gitignore=self.respect_gitignore,
            scan_binary=self.scan_binary,
            skip_archives=self.skip_archives,
            max_file_bytes=self.max_file_bytes,
            ignore_patterns=load_ignore_patterns(root=root, explicit=self.ignore_file),
        )
