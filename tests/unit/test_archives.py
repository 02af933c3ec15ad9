from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leakmesh.sources.content import ArchiveBudget
from leakmesh.sources.filesystem import FsSourceOptions, classify
from leakmesh.sources.items import Item, Skipped, SkipReason


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def tar_bytes(files: dict[str, bytes], mode: str = "w") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:  # type: ignore[call-overload]
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def expand(key: str, data: bytes, options: FsSourceOptions | None = None) -> list[Item | Skipped]:
    return list(classify(key, data, options or FsSourceOptions()))


def test_zip_members_are_items_with_bang_keys() -> None:
    out = expand("dist/app.zip", zip_bytes({"config/settings.py": b"x = 1", "README": b"hi"}))
    assert [(i.key, i.data) for i in out if isinstance(i, Item)] == [
        ("dist/app.zip!config/settings.py", b"x = 1"),
        ("dist/app.zip!README", b"hi"),
    ]


@pytest.mark.parametrize(
    ("name", "compress", "inner"),
    [
        ("notes.txt.gz", gzip.compress, "notes.txt"),
        ("n.bz2", bz2.compress, "n"),
        ("n.xz", lzma.compress, "n"),
    ],
)
def test_single_stream_compression(name: str, compress, inner: str) -> None:  # type: ignore[no-untyped-def]
    [item] = expand(name, compress(b"secret"))
    assert isinstance(item, Item) and item.key == f"{name}!{inner}" and item.data == b"secret"


def test_nested_tar_gz_inside_zip() -> None:
    inner = gzip.compress(tar_bytes({"etc/app.env": b"TOKEN=abc"}))
    out = expand("b.zip", zip_bytes({"logs.tgz": inner}))
    assert [i.key for i in out if isinstance(i, Item)] == ["b.zip!logs.tgz!logs.tar!etc/app.env"]


def test_depth_budget() -> None:
    data = b"deep"
    for _ in range(5):
        data = zip_bytes({"x": data})
    out = expand("a.zip", data, FsSourceOptions(archive_budget=ArchiveBudget(max_depth=3)))
    assert any(isinstance(i, Skipped) and i.reason is SkipReason.ARCHIVE_BUDGET for i in out)
    assert not any(isinstance(i, Item) for i in out)


def test_size_budget_stops_a_bomb() -> None:
    bomb = zip_bytes({"zeros.txt": b"0" * 5_000_000})
    out = expand(
        "bomb.zip", bomb, FsSourceOptions(archive_budget=ArchiveBudget(max_total_bytes=1_000_000))
    )
    assert [(type(i), getattr(i, "reason", None)) for i in out] == [
        (Skipped, SkipReason.ARCHIVE_BUDGET)
    ]


def test_corrupt_archive_is_skipped_and_earlier_members_kept() -> None:
    good = tar_bytes({"a.txt": b"first", "b.txt": b"second" * 1000})
    out = expand("x.tar", good[:3000])
    assert isinstance(out[0], Item) and out[0].data == b"first"
    assert isinstance(out[-1], Skipped) and out[-1].reason is SkipReason.CORRUPT_ARCHIVE


def test_skip_archives() -> None:
    [skipped] = expand("a.zip", zip_bytes({"x": b"y"}), FsSourceOptions(skip_archives=True))
    assert isinstance(skipped, Skipped) and skipped.reason is SkipReason.ARCHIVE


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_garbage_with_archive_magic_never_raises(tail: bytes) -> None:
    for magic in (b"PK\x03\x04", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00"):
        expand("junk", magic + tail)
