"""Helpers shared by the test suites: realistic canary secrets, CLI runs and
small git repositories."""

from __future__ import annotations

import binascii
import json
import os
import random
import string
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _base62(number: int, width: int) -> str:
    digits = ""
    while number:
        number, rest = divmod(number, 62)
        digits = _BASE62[rest] + digits
    return digits.rjust(width, "0")


def github_token(seed: int, prefix: str = "ghp_") -> str:
    """A classic GitHub token with a valid CRC32 checksum (never a live one)."""
    rng = random.Random(seed)
    body = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(30))
    return prefix + body + _base62(binascii.crc32(body.encode()), 6)


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `python -m leakmesh` as a user would, with a clean LEAKMESH_* environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("LEAKMESH_")}
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "leakmesh", *args],
        cwd=cwd,
        env=base,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def new_git_repo(repo: Path) -> Callable[..., None]:
    """`git init` a repository at `repo` (branch main); returns `git(*args)` that
    runs there as one fixed author, raising on failure."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "A",
        "GIT_AUTHOR_EMAIL": "a@example.org",
        "GIT_COMMITTER_NAME": "A",
        "GIT_COMMITTER_EMAIL": "a@example.org",
    }

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, capture_output=True)

    repo.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "-b", "main")
    return git


def direct_summary(logged: str) -> dict[str, int]:
    """The `worker.direct_summary` event in a direct-mode worker's output."""
    [line] = [x for x in logged.splitlines() if '"worker.direct_summary"' in x]
    return json.loads(line)  # type: ignore[no-any-return]
