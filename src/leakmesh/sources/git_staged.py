"""What is staged for the next commit (`scan git --staged`, the pre-commit hook)."""

from __future__ import annotations

import re
import subprocess

from msgspec.structs import replace

from leakmesh.engine.finding import CommitInfo
from leakmesh.sources.git import BlobRef, GitError, Repository, diff_entry

STAGED = CommitInfo(commit="", author_name="", author_email="", date="", path="")
"""Staged content has no commit yet."""

_HUNK_RE = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


def _diff_cached(repo: Repository, *options: str) -> str:
    """`git diff --cached` output; paths kept byte for byte (surrogateescape)."""
    done = subprocess.run(
        ["git", "-C", str(repo.path), "diff", "--cached", *options],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise GitError(done.stderr.decode(errors="replace").strip() or "git diff --cached failed")
    return done.stdout.decode("utf-8", errors="surrogateescape")


def staged_blobs(repo: Repository) -> list[BlobRef]:
    """The blobs staged for the next commit (added or modified paths)."""
    if repo.bare:
        raise GitError(f"a bare repository has no staging area: {repo.path}")
    raw = _diff_cached(repo, "--raw", "--no-abbrev", "--no-renames", "-z")
    tokens = iter(raw.split("\x00"))
    refs = []
    for token in tokens:
        if not token.startswith(":"):
            continue
        entry = diff_entry(token, next(tokens, ""))
        if entry.blob is not None:
            refs.append(BlobRef(entry.blob, entry.path, replace(STAGED, path=entry.path)))
    return refs


def _unquote(path: str) -> str:
    if path.startswith('"') and path.endswith('"'):
        raw = path[1:-1].encode("latin-1", errors="backslashreplace").decode("unicode_escape")
        return raw.encode("latin-1").decode("utf-8", errors="surrogateescape")
    return path


def staged_added_lines(repo: Repository) -> dict[str, set[int]]:
    """Per path, the line numbers (in the staged content) that the commit adds."""
    diff = _diff_cached(
        repo,
        "-U0",
        "--no-color",
        "--no-ext-diff",
        "--no-renames",
        "--no-textconv",
        "--src-prefix=a/",
        "--dst-prefix=b/",
    )
    added: dict[str, set[int]] = {}
    current: set[int] | None = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            target = _unquote(line[4:])
            current = (
                added.setdefault(target[2:], set())
                if target.startswith("b/") or target.startswith('"b/')
                else None
            )
        elif line.startswith("@@") and current is not None:
            match = _HUNK_RE.match(line)
            if match:
                start, count = int(match.group(1)), int(match.group(2) or "1")
                current.update(range(start, start + count))
    return added
