from __future__ import annotations

import builtins
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leakmesh.sources.filesystem import FileEntry, FsSourceOptions, read_entry, walk
from leakmesh.sources.items import Item, Skipped, SkipReason


def keys(root: Path, options: FsSourceOptions | None = None) -> list[str]:
    return [e.key for e in walk(root, options or FsSourceOptions()) if isinstance(e, FileEntry)]


def make(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)


def test_walk_is_sorted_and_skips_dot_git(tmp_path: Path) -> None:
    make(
        tmp_path, {"b.py": "", "a/z.py": "", "a/b.py": "", ".git/config": "", ".github/ci.yml": ""}
    )
    assert keys(tmp_path) == [".github/ci.yml", "a/b.py", "a/z.py", "b.py"]


def test_gitignore_nested_and_negated(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            ".gitignore": "*.log\nbuild/\n",
            "app.log": "",
            "build/out.txt": "",
            "src/.gitignore": "!keep.log\nsecret.txt\n",
            "src/keep.log": "",
            "src/secret.txt": "",
            "src/main.py": "",
            "docs/secret.txt": "",
        },
    )
    assert keys(tmp_path) == [
        ".gitignore",
        "docs/secret.txt",
        "src/.gitignore",
        "src/keep.log",
        "src/main.py",
    ]
    everything = keys(tmp_path, FsSourceOptions(respect_gitignore=False))
    assert "build/out.txt" in everything and "app.log" in everything


def test_ignore_patterns(tmp_path: Path) -> None:
    make(tmp_path, {"vendor/x.js": "", "src/a.py": "", "fixtures/k.pem": ""})
    options = FsSourceOptions(ignore_patterns=("vendor/", "*.pem"))
    assert keys(tmp_path, options) == ["src/a.py"]


def test_symlinks_are_not_followed_out_of_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    make(outside, {"secret.txt": "x"})
    root = tmp_path / "root"
    make(root, {"a.txt": ""})
    os.symlink(outside / "secret.txt", root / "link.txt")
    os.symlink(outside, root / "linkdir")
    entries = list(walk(root, FsSourceOptions()))
    assert [e.key for e in entries if isinstance(e, FileEntry)] == ["a.txt"]
    assert {(e.key, e.reason) for e in entries if isinstance(e, Skipped)} == {
        ("link.txt", SkipReason.SYMLINK),
        ("linkdir", SkipReason.SYMLINK),
    }


def _read(path: Path, root: Path, options: FsSourceOptions | None = None) -> list[Item | Skipped]:
    entry = FileEntry(key=str(path.relative_to(root)), path=str(path), size=path.stat().st_size)
    return list(read_entry(entry, options or FsSourceOptions()))


def test_binary_is_skipped_unless_asked(tmp_path: Path) -> None:
    make(tmp_path, {"a.bin": b"\x00\x01token"})
    [skipped] = _read(tmp_path / "a.bin", tmp_path)
    assert isinstance(skipped, Skipped) and skipped.reason is SkipReason.BINARY
    [item] = _read(tmp_path / "a.bin", tmp_path, FsSourceOptions(scan_binary=True))
    assert isinstance(item, Item) and item.data == b"\x00\x01token"


def test_utf16_text_is_reencoded(tmp_path: Path) -> None:
    make(tmp_path, {"w.ps1": "\ufeffpassword = 'x'".encode("utf-16-le")})
    make(tmp_path, {"w.ps1": b"\xff\xfe" + "password = 'x'".encode("utf-16-le")})
    [item] = _read(tmp_path / "w.ps1", tmp_path)
    assert isinstance(item, Item) and item.data == b"password = 'x'"


def test_too_large(tmp_path: Path) -> None:
    make(tmp_path, {"big.txt": "x" * 100})
    [skipped] = _read(tmp_path / "big.txt", tmp_path, FsSourceOptions(max_file_bytes=10))
    assert isinstance(skipped, Skipped) and skipped.reason is SkipReason.TOO_LARGE


def test_unreadable_file_is_skipped_with_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(tmp_path, {"locked.txt": "x"})
    real_open = builtins.open

    def guarded(file: Any, *args: Any, **kwargs: Any) -> Any:
        if str(file).endswith("locked.txt"):
            raise PermissionError(13, "Permission denied")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded)
    [skipped] = _read(tmp_path / "locked.txt", tmp_path)
    assert isinstance(skipped, Skipped)
    assert skipped.reason is SkipReason.UNREADABLE and "Permission denied" in skipped.detail


def test_a_file_at_the_size_limit_is_read_and_one_byte_more_is_not(tmp_path: Path) -> None:
    make(tmp_path, {"at.txt": "x" * 10, "over.txt": "x" * 11})
    options = FsSourceOptions(max_file_bytes=10)
    [item] = _read(tmp_path / "at.txt", tmp_path, options)
    assert isinstance(item, Item) and len(item.data) == 10
    [skipped] = _read(tmp_path / "over.txt", tmp_path, options)
    assert isinstance(skipped, Skipped) and skipped.reason is SkipReason.TOO_LARGE


def test_a_file_that_grew_after_the_walk_is_read_whole_within_the_limit(tmp_path: Path) -> None:
    make(tmp_path, {"grows.txt": "password = 'x'"})
    [entry] = [e for e in walk(tmp_path, FsSourceOptions()) if isinstance(e, FileEntry)]
    (tmp_path / "grows.txt").write_text("password = 'x'\n" * 100)
    [item] = read_entry(entry, FsSourceOptions())
    assert isinstance(item, Item) and len(item.data) == 1500
    (tmp_path / "grows.txt").write_text("y" * 5000)
    [skipped] = read_entry(entry, FsSourceOptions(max_file_bytes=1000))
    assert isinstance(skipped, Skipped) and skipped.reason is SkipReason.TOO_LARGE


def test_descend_prunes_directories(tmp_path: Path) -> None:
    make(tmp_path, {"a/x.txt": "1", "b/c/y.txt": "2", "b/z.txt": "3", "top.txt": "4"})
    seen: list[str] = []

    def descend(directory: str) -> bool:
        seen.append(directory)
        return directory != "b/c"

    found = [
        e.key
        for e in walk(tmp_path, FsSourceOptions(), descend=descend)
        if isinstance(e, FileEntry)
    ]
    assert found == ["a/x.txt", "b/z.txt", "top.txt"]
    assert seen == ["a", "b", "b/c"]


NAMES = st.sampled_from(["a", "a.txt", "a-b", "ab", "a b", "B", "_", "a.", "\u00e4", "a0", "~"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(NAMES, min_size=1, max_size=3), min_size=1, max_size=12))
def test_the_walk_yields_keys_in_string_order(paths: list[list[str]]) -> None:
    """Fleet shards page the walk as it comes, by key: it must come sorted, with
    a directory "a" after a file "a.txt" ("a/…" > "a.txt")."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for *dirs, name in paths:
            with contextlib.suppress(FileExistsError, NotADirectoryError, IsADirectoryError):
                folder = root.joinpath(*dirs)
                folder.mkdir(parents=True, exist_ok=True)
                (folder / name).write_text("x")
        keys = [e.key for e in walk(root, FsSourceOptions()) if isinstance(e, FileEntry)]
        assert keys == sorted(keys)
        assert len(keys) == sum(1 for p in root.rglob("*") if p.is_file())
