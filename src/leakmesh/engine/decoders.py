"""Find base64, hex and percent-encoded runs and decode them for rescanning.

Hyperscan reports where a run may start (its trigger, one report per run);
`re` extends the run from there, and the run is kept only when it decodes to
mostly printable text.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from urllib.parse import unquote_to_bytes

from msgspec import Struct

MAX_RUNS_PER_BUFFER = 2_000
MIN_DECODED_BYTES = 8
MIN_PRINTABLE_RATIO = 0.9

_PRINTABLE = bytes(range(0x20, 0x7F)) + b"\t\n\r"


class EncodedRun(Struct, frozen=True):
    encoding: str
    start: int
    end: int
    decoded: bytes


class Decoder(Struct, frozen=True):
    name: str
    trigger: bytes
    """Hyperscan pattern whose match ends `trigger_width` bytes after it starts."""
    trigger_width: int
    run: re.Pattern[bytes]
    """Matched from the run's start to find its end."""
    decode: Callable[[bytes], bytes | None]
    extends_back_over: frozenset[int] = frozenset()
    """Bytes the run may also hold before the trigger (e.g. ``-`` in url-safe base64)."""


MAX_BACKTRACK_BYTES = 512


def _texty(decoded: bytes) -> bool:
    if len(decoded) < MIN_DECODED_BYTES:
        return False
    unprintable = len(decoded.translate(None, _PRINTABLE))
    return unprintable <= (1 - MIN_PRINTABLE_RATIO) * len(decoded)


_BASE64_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")


def _plausible_base64(body: bytes) -> bool:
    """Encoded text mixes cases and rarely uses ``-``/``_``; identifiers do not."""
    if body.lower() == body or body.upper() == body:
        return False
    if (body.count(b"-") + body.count(b"_")) * 8 > len(body):
        return False
    return len(set(body)) >= 8


def _decode_base64(run: bytes) -> bytes | None:
    body = run.rstrip(b"=")
    if not _plausible_base64(body):
        return None
    padded = body + b"=" * (-len(body) % 4)
    try:
        if b"-" in body or b"_" in body:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None


def _decode_hex(run: bytes) -> bytes | None:
    try:
        return binascii.unhexlify(run[: len(run) // 2 * 2])
    except binascii.Error:
        return None


def _decode_percent(run: bytes) -> bytes | None:
    if run.count(b"%") < 2:
        return None
    decoded = unquote_to_bytes(run)
    return decoded if decoded != run else None


_URL_TOKEN_CHARS = frozenset(range(0x21, 0x7F)) - frozenset(b"\"'<>`")


DECODERS: tuple[Decoder, ...] = (
    Decoder(
        name="base64",
        trigger=rb"(?:^|[^A-Za-z0-9+/])[A-Za-z0-9+/]{24}",
        trigger_width=24,
        run=re.compile(rb"[A-Za-z0-9+/_\-]{24,}={0,2}"),
        decode=_decode_base64,
        extends_back_over=_BASE64_CHARS,
    ),
    Decoder(
        name="hex",
        trigger=rb"(?:^|[^0-9A-Za-z])[0-9a-fA-F]{32}",
        trigger_width=32,
        run=re.compile(rb"[0-9a-fA-F]{32,}(?![0-9A-Za-z])"),
        decode=_decode_hex,
    ),
    Decoder(
        name="percent",
        trigger=rb"%[0-9A-Fa-f]{2}",
        trigger_width=3,
        run=re.compile(rb"[!#-&(-;=?-_a-~]{3,4096}"),
        decode=_decode_percent,
        extends_back_over=_URL_TOKEN_CHARS,
    ),
)


def _candidates(data: bytes, decoder: Decoder, ends: Sequence[int]) -> Iterator[re.Match[bytes]]:
    resume = 0
    back = decoder.extends_back_over
    for end in ends:
        start = end - decoder.trigger_width
        if start < resume:
            continue
        floor = max(resume, start - MAX_BACKTRACK_BYTES)
        while start > floor and data[start - 1] in back:
            start -= 1
        match = decoder.run.match(data, start)
        if match is not None:
            resume = match.end()
            yield match


def encoded_runs(data: bytes, triggered: Mapping[str, Sequence[int]]) -> Iterator[EncodedRun]:
    """Runs of `data` whose decoding is mostly printable text; `triggered` maps each
    decoder name to the end offsets of its trigger matches."""
    produced = 0
    for decoder in DECODERS:
        ends = triggered.get(decoder.name)
        if not ends:
            continue
        for match in _candidates(data, decoder, ends):
            decoded = decoder.decode(match.group())
            if decoded is None or not _texty(decoded):
                continue
            yield EncodedRun(decoder.name, match.start(), match.end(), decoded)
            produced += 1
            if produced >= MAX_RUNS_PER_BUFFER:
                return
