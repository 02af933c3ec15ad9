"""The git history source: every blob reachable from the chosen refs, once each,
with the commit that introduced it, read through git's own plumbing.

`walk_history` streams ``git log --raw`` in reverse topological order: the first
commit in which a blob appears (added or modified, or resolved by a merge that
differs from every parent) introduced it. Only blob ids and their attribution
are kept in memory, never blob contents. `BlobReader` reads contents through one
long-running ``git cat-file --batch-command`` per worker.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

from leakmesh.engine.finding import CommitInfo

NULL_SHA = "0" * 40
_SKIPPED_MODES = {"160000", "120000"}
"""Submodule links and symbolic links: not file content."""
_HEADER_SEPARATOR = "\x1f"
_LOG_FORMAT = "%x00%H%x1f%P%x1f%an%x1f%ae%x1f%aI"
_READ_CHUNK = 1 << 16
_LOG_DELTA_CACHE = "4m"


class GitError(Exception):
    """git could not do what was asked (not a repository, unknown revision…);
    the message is one line."""


@dataclass(frozen=True, slots=True)
class Repository:
    path: Path
    git_dir: Path
    bare: bool


@dataclass(frozen=True, slots=True)
class HistoryOptions:
    ref: str | None = None
    """Only this ref's history; None: all refs (branches, tags, others)."""
    since: str | None = None
    """Only commits not reachable from this revision."""
    max_count: int | None = None
    exclude: tuple[str, ...] = ()
    """Commits already scanned (the frontier): their history is not walked again."""


@dataclass(frozen=True, slots=True)
class BlobRef:
    """A blob to scan, with the commit that introduced it at `path`."""

    blob_id: str
    path: str
    commit: CommitInfo

    def __reduce__(self) -> tuple[type[BlobRef], tuple[str, str, CommitInfo]]:
        return BlobRef, (self.blob_id, self.path, self.commit)  # as CommitInfo does


@dataclass(frozen=True, slots=True)
class CommitSeen:
    commit: str


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


def _log_command(repo: Repository, options: HistoryOptions) -> list[str]:
    command = [
        "git",
        "-C",
        str(repo.path),
        # The walk reads trees only: with git's 96 MiB default cache of delta
        # bases its memory doubled for no speed (20,000 commits: 89 → 45 MiB;
        # 100,000: 339 → 182 MiB, 4.5 s either way); at 2 MiB a large history
        # re-inflated its delta chains (4.5 → 6.1 s).
        "-c",
        f"core.deltaBaseCacheLimit={_LOG_DELTA_CACHE}",
        "log",
        "--topo-order",
        "--reverse",
        "--no-renames",
        "--raw",
        "--no-abbrev",
        "-c",
        "--root",
        "-z",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        f"--format={_LOG_FORMAT}",
    ]
    if options.max_count is not None:
        command.append(f"--max-count={options.max_count}")
    command.append(resolve_revision(repo, options.ref) if options.ref else "--all")
    if options.since:
        command.append("^" + resolve_revision(repo, options.since))
    command.extend("^" + commit for commit in existing_commits(repo, options.exclude))
    return command


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


def _tokens(stream: Iterable[bytes]) -> Iterator[str]:
    pending = b""
    for chunk in stream:
        pending += chunk
        *complete, pending = pending.split(b"\x00")
        for token in complete:
            yield token.decode("utf-8", errors="surrogateescape")
    if pending:
        yield pending.decode("utf-8", errors="surrogateescape")


def _commit_info(header: str) -> CommitInfo:
    commit, _parents, name, email, date = header.lstrip("\n").split(_HEADER_SEPARATOR)
    return CommitInfo(commit=commit, author_name=name, author_email=email, date=date, path="")


@dataclass(frozen=True, slots=True)
class BlobCopy:
    """A blob already yielded, added again at another path (a copy, not a move):
    its findings are introduced there too."""

    blob_id: str
    commit: CommitInfo


@dataclass(frozen=True, slots=True)
class _Entry:
    blob: str | None
    removed: str | None
    path: str


def _entry(raw: str, path: str) -> _Entry:
    """One raw diff entry: ``:old new oldsha newsha S`` (one parent) or
    ``::m1 m2 m3 s1 s2 s3 SS`` (a merge, combined: differs from every parent)."""
    stripped = raw.lstrip("\n")
    parents = len(stripped) - len(stripped.lstrip(":"))
    fields = stripped[parents:].split(" ")
    if len(fields) != 2 * (parents + 1) + 1:
        return _Entry(None, None, path)
    status = fields[-1]
    if "D" in status:
        return _Entry(None, fields[parents + 1], path)
    new_mode, new_sha = fields[parents], fields[2 * parents + 1]
    if new_sha == NULL_SHA or new_mode in _SKIPPED_MODES:
        return _Entry(None, None, path)
    return _Entry(new_sha, None, path)


def _introductions(
    commit: CommitInfo, entries: list[_Entry], seen: dict[str, str]
) -> Iterator[BlobRef | BlobCopy]:
    moved = {e.removed for e in entries if e.removed}
    for entry in entries:
        blob = entry.blob
        if blob is None:
            continue
        first_path = seen.get(blob)
        if first_path is not None and (first_path == entry.path or blob in moved):
            continue
        introduced = CommitInfo(
            commit.commit, commit.author_name, commit.author_email, commit.date, entry.path
        )
        if first_path is None:
            seen[blob] = entry.path
            yield BlobRef(blob_id=blob, path=entry.path, commit=introduced)
        else:
            yield BlobCopy(blob_id=blob, commit=introduced)


def walk_history(
    repo: Repository, options: HistoryOptions
) -> Iterator[BlobRef | BlobCopy | CommitSeen]:
    """Each commit once (`CommitSeen`), each blob the first time it appears
    (`BlobRef`) and again where it is copied to another path (`BlobCopy`), oldest
    first. Only blob ids and first paths are kept in memory."""
    seen: dict[str, str] = {}
    process = subprocess.Popen(
        _log_command(repo, options), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    try:
        tokens = _tokens(iter(lambda: process.stdout.read(_READ_CHUNK), b""))  # type: ignore[union-attr]
        commit: CommitInfo | None = None
        entries: list[_Entry] = []
        for token in tokens:
            if _HEADER_SEPARATOR in token:
                if commit is not None:
                    yield from _introductions(commit, entries, seen)
                commit, entries = _commit_info(token), []
                yield CommitSeen(commit.commit)
            elif token.lstrip("\n").startswith(":"):
                entries.append(_entry(token, next(tokens, "")))
        if commit is not None:
            yield from _introductions(commit, entries, seen)
    finally:
        process.stdout.close()
        stderr = ""
        if process.stderr is not None:
            stderr = process.stderr.read().decode(errors="replace")
            process.stderr.close()
        code = process.wait()
    if code != 0:
        lines = stderr.strip().splitlines()
        raise GitError(lines[-1] if lines else f"git log failed with exit code {code}")


@dataclass(frozen=True, slots=True)
class BlobContent:
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


STAGED = CommitInfo(commit="", author_name="", author_email="", date="", path="")
"""Staged content has no commit yet."""

_HUNK_RE = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


def staged_blobs(repo: Repository) -> list[BlobRef]:
    """The blobs staged for the next commit (added or modified paths)."""
    if repo.bare:
        raise GitError(f"a bare repository has no staging area: {repo.path}")
    raw = subprocess.run(
        [
            "git",
            "-C",
            str(repo.path),
            "diff",
            "--cached",
            "--raw",
            "--no-abbrev",
            "--no-renames",
            "-z",
        ],
        capture_output=True,
        check=False,
    )
    if raw.returncode != 0:
        raise GitError(raw.stderr.decode(errors="replace").strip() or "git diff --cached failed")
    tokens = iter(raw.stdout.decode("utf-8", errors="surrogateescape").split("\x00"))
    refs = []
    for token in tokens:
        if not token.startswith(":"):
            continue
        entry = _entry(token, next(tokens, ""))
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
    diff = subprocess.run(
        [
            "git",
            "-C",
            str(repo.path),
            "diff",
            "--cached",
            "-U0",
            "--no-color",
            "--no-ext-diff",
            "--no-renames",
            "--no-textconv",
            "--src-prefix=a/",
            "--dst-prefix=b/",
        ],
        capture_output=True,
        check=False,
    )
    if diff.returncode != 0:
        raise GitError(diff.stderr.decode(errors="replace").strip() or "git diff --cached failed")
    added: dict[str, set[int]] = {}
    current: set[int] | None = None
    for line in diff.stdout.decode("utf-8", errors="surrogateescape").splitlines():
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
