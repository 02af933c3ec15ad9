"""Git's output pipes are widened where the system allows it, and left alone
(without an error) where it does not."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from leakmesh.sources.git import GIT_PIPE_BYTES, widen_pipe

pytestmark = pytest.mark.skipif(
    not hasattr(fcntl, "F_GETPIPE_SZ"), reason="pipe sizes are a Linux feature"
)


def test_a_pipe_is_widened() -> None:
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as stream, os.fdopen(write_end, "wb"):
        before = fcntl.fcntl(stream.fileno(), fcntl.F_GETPIPE_SZ)
        widen_pipe(stream)
        after = fcntl.fcntl(stream.fileno(), fcntl.F_GETPIPE_SZ)
    assert before < GIT_PIPE_BYTES
    allowed = os.geteuid() == 0 or int(Path("/proc/sys/fs/pipe-max-size").read_text()) >= (
        GIT_PIPE_BYTES
    )
    assert after == (GIT_PIPE_BYTES if allowed else before)


def test_a_file_that_is_no_pipe_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "plain"
    path.write_bytes(b"data")
    with path.open("rb") as stream:
        widen_pipe(stream)
        assert stream.read() == b"data"
