"""Git repositories, through git's own plumbing: what a repository is, its refs,
and the value objects the history walk (`git_history`), the blob reader
(`git_blobs`) and the staged-changes scan (`git_staged`) share.
"""

from __future__ import annotations

import contextlib
import fcntl
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from msgspec import Struct

if TYPE_CHECKING:
    from leakmesh.engine.finding import CommitInfo

NULL_SHA = "0" * 40
_SKIPPED_MODES = {"160000", "120000"}
"""Submodule links and symbolic links: not file content."""


class GitError(Exception):
    """git could not do what was asked (not a repository, unknown revision…);
    the message is one line."""


class Repository(Struct, frozen=True):
    path: Path
    git_dir: Path
    bare: bool


class HistoryOptions(Struct, frozen=True):
    ref: str | None = None
    """Only this ref's history; None: all refs (branches, tags, others)."""
    since: str | None = None
    """Only commits not reachable from this revision."""
    max_count: int | None = None
    exclude: tuple[str, ...] = ()
    """Commits already scanned (the frontier): their history is not walked again."""


class BlobRef(Struct, frozen=True):
    """A blob to scan, with the commit that introduced it at `path`."""

    blob_id: str
    path: str
    commit: CommitInfo

    def __reduce__(self) -> tuple[type[BlobRef], tuple[str, str, CommitInfo]]:
        return BlobRef, (self.blob_id, self.path, self.commit)  # as CommitInfo does


class CommitSeen(Struct, frozen=True):
    commit: str


GIT_PIPE_BYTES = 1 << 20
"""Pipe capacity asked for git's output (Linux's default is 64 KiB, and 1 MiB is
what an unprivileged process may set): git runs further ahead of a reader that
pauses, e.g. for the GIL (A/B of the bench histories: 20,000 commits 1.17 → 1.08 s,
100,000 commits 6.64 → 6.46 s)."""


def widen_pipe(stream: IO[bytes]) -> None:
    """Ask for a larger pipe behind `stream`; kept as it is where the system
    refuses (a lower limit) or has no such call."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is None:
        return
    with contextlib.suppress(OSError):
        fcntl.fcntl(stream.fileno(), set_size, GIT_PIPE_BYTES)


def _git(repo: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise GitError("git is not installed (needed for scan git)") from None
    if done.returncode != 0:
        message = done.stderr.strip().splitlines()
        raise GitError(message[-1] if message else f"git {args[0]} failed")
    return done.stdout.strip()


def open_repository(path: Path) -> Repository:
    """Validate that `path` is a git repository (work tree or bare)."""
    if not path.exists():
        raise GitError(f"path does not exist: {path}")
    try:
        git_dir, bare = _git(
            path, "rev-parse", "--absolute-git-dir", "--is-bare-repository"
        ).splitlines()
    except (GitError, ValueError):
        raise GitError(f"not a git repository: {path}") from None
    return Repository(path=path, git_dir=Path(git_dir), bare=bare == "true")


def count_objects(repo: Repository) -> int:
    """Objects in the repository, loose and packed (commits and trees included)."""
    lines = _git(repo.path, "count-objects", "-v").splitlines()
    counts = dict(line.split(": ", 1) for line in lines if ": " in line)
    return int(counts.get("count", 0)) + int(counts.get("in-pack", 0))


def resolve_revision(repo: Repository, revision: str) -> str:
    try:
        return _git(
            repo.path, "rev-parse", "--verify", "--end-of-options", f"{revision}^{{commit}}"
        )
    except GitError:
        raise GitError(f"unknown revision: {revision}") from None


def existing_commits(repo: Repository, commits: Iterable[str]) -> list[str]:
    """The commits of `commits` that the repository still has (a rewritten or
    pruned frontier tip must not break the walk)."""
    wanted = list(commits)
    if not wanted:
        return []
    done = subprocess.run(
        ["git", "-C", str(repo.path), "cat-file", "--batch-check=%(objectname) %(objecttype)"],
        input="".join(f"{c}\n" for c in wanted),
        capture_output=True,
        text=True,
        check=False,
    )
    return [line.split()[0] for line in done.stdout.splitlines() if line.endswith(" commit")]


def ref_tips(repo: Repository) -> dict[str, str]:
    """Every ref and the commit it points to (tags peeled)."""
    listing = _git(
        repo.path, "for-each-ref", "--format=%(refname)%00%(objectname)%00%(*objectname)"
    )
    tips = {}
    for line in listing.splitlines():
        ref, direct, peeled = line.split("\x00")
        tips[ref] = peeled or direct
    return tips


class DiffEntry(Struct, frozen=True):
    """One path of a raw diff: the blob it now holds, or the one it removed."""

    blob: str | None
    removed: str | None
    path: str


def diff_entry(raw: str, path: str) -> DiffEntry:
    """One raw diff entry: ``:old new oldsha newsha S`` (one parent) or
    ``::m1 m2 m3 s1 s2 s3 SS`` (a merge, combined: differs from every parent)."""
    stripped = raw.lstrip("\n")
    parents = len(stripped) - len(stripped.lstrip(":"))
    fields = stripped[parents:].split(" ")
    if len(fields) != 2 * (parents + 1) + 1:
        return DiffEntry(None, None, path)
    status = fields[-1]
    if "D" in status:
        return DiffEntry(None, fields[parents + 1], path)
    new_mode, new_sha = fields[parents], fields[2 * parents + 1]
    if new_sha == NULL_SHA or new_mode in _SKIPPED_MODES:
        return DiffEntry(None, None, path)
    return DiffEntry(new_sha, None, path)
