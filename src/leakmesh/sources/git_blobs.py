"""Blob contents, read through one long-running ``git cat-file --batch-command``
per scanning worker."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from msgspec import Struct

from leakmesh.sources.git import GitError, widen_pipe

_READ_CHUNK = 1 << 16


class BlobContent(Struct, frozen=True):
    blob_id: str
    data: bytes | None
    """None when the blob was not read (see `size` and `missing`)."""
    size: int
    missing: bool = False


def _discard(stream: IO[bytes], count: int) -> None:
    while count > 0:
        chunk = stream.read(min(count, _READ_CHUNK))
        if not chunk:
            raise GitError("git cat-file stopped unexpectedly")
        count -= len(chunk)


class BlobReader:
    """Reads blobs through one ``git cat-file --batch-command --buffer`` process."""

    def __init__(self, repo_path: Path) -> None:
        self._process = subprocess.Popen(
            ["git", "-C", str(repo_path), "cat-file", "--batch-command", "--buffer"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self._process.stdout is not None
        widen_pipe(self._process.stdout)

    def _command(self, verb: str, ids: list[str]) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(b"".join(f"{verb} {i}\n".encode() for i in ids) + b"flush\n")
        self._process.stdin.flush()

    def _header(self) -> tuple[str, str, int]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise GitError("git cat-file stopped unexpectedly")
        parts = line.decode(errors="replace").split()
        if len(parts) == 2 and parts[1] in ("missing", "ambiguous"):
            return parts[0], "missing", 0
        return parts[0], parts[1], int(parts[2])

    def read(self, blob_ids: list[str], *, max_bytes: int) -> Iterator[BlobContent]:
        """Contents of the blobs no larger than `max_bytes` (sizes of the others), as
        git produces them: git decompresses the next blobs while the caller works."""
        if not blob_ids:
            return
        self._command("contents", blob_ids)
        stdout = self._process.stdout
        assert stdout is not None
        for _ in blob_ids:
            oid, kind, size = self._header()
            if kind == "missing":
                yield BlobContent(oid, None, 0, missing=True)
                continue
            if size > max_bytes or kind != "blob":
                _discard(stdout, size + 1)
                yield BlobContent(oid, None, size, missing=kind != "blob")
                continue
            data = stdout.read(size)
            stdout.read(1)
            yield BlobContent(oid, data, size)

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
