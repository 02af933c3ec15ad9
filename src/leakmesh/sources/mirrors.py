"""Local mirrors of the repositories a fleet worker scans, kept under
`mirror_root` and reused between leases: cloned once, fetched on later use.
An flock per mirror keeps two workers on one machine from updating it at once."""

from __future__ import annotations

import fcntl
import hashlib
import re
import shutil
import subprocess
from pathlib import Path

from leakmesh.sources.git import GitError, Repository, open_repository

_FETCH_TIMEOUT_S = 3600


def mirror_path(mirror_root: Path, location: str) -> Path:
    """A readable, collision-free directory name for `location`."""
    tail = re.sub(r"[^A-Za-z0-9._-]+", "-", location.rstrip("/").rsplit("/", 1)[-1])[:40]
    location = without_credentials(location)
    digest = hashlib.sha256(location.encode()).hexdigest()[:16]
    return mirror_root / f"{tail.removesuffix('.git') or 'repo'}-{digest}.git"


_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def without_credentials(text: str) -> str:
    """`text` with any URL's user:password@ removed (git echoes remote URLs)."""
    return _USERINFO.sub("***@", text)


def _git(*args: str) -> None:
    try:
        done = subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            timeout=_FETCH_TIMEOUT_S,
            check=False,
            env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/local/bin:/usr/bin:/bin"},
        )
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} timed out") from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        message = without_credentials(lines[-1]) if lines else "no message"
        raise GitError(f"git {args[0]} failed: {message}")


def update_mirror(mirror_root: Path, location: str) -> Repository:
    """The up-to-date mirror of `location` (a path or URL), cloning it the first time."""
    mirror_root.mkdir(parents=True, exist_ok=True)
    path = mirror_path(mirror_root, location)
    with (mirror_root / f"{path.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (path / "HEAD").exists():
            _git("-C", str(path), "remote", "update", "--prune")
        else:
            partial = path.with_name(path.name + ".partial")
            # A clone killed half-way left this behind; the lock says nobody uses it.
            shutil.rmtree(partial, ignore_errors=True)
            _git("clone", "--mirror", "--quiet", "--", location, str(partial))
            partial.rename(path)
    return open_repository(path)
