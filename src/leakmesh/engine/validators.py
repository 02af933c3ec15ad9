"""Offline validators: structural and checksum checks of a candidate secret.

Each returns True when the secret carries a valid checksum or structure, False when
the format's own check fails. No network, ever: that is for a separate, explicit step.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping

_BASE62 = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _base62(number: int, width: int) -> bytes:
    digits = bytearray()
    while number:
        number, rest = divmod(number, 62)
        digits.append(_BASE62[rest])
    return bytes(reversed(digits)).rjust(width, b"0")


def base62_crc32_suffix(secret: bytes) -> bool:
    """GitHub (``ghp_`` …) and npm (``npm_``) tokens: the last 6 characters are the
    base62 CRC32 of the 30 random characters between the prefix and the checksum."""
    _, sep, body = secret.rpartition(b"_")
    if not sep or len(body) < 7:
        return False
    payload, checksum = body[:-6], body[-6:]
    return _base62(binascii.crc32(payload), 6) == checksum


def _b64url_json(segment: bytes) -> object:
    padded = segment + b"=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded))


def jwt_structure(secret: bytes) -> bool:
    """A JWT's header decodes to a JSON object naming its algorithm and its payload
    to a JSON object."""
    parts = secret.split(b".")
    if len(parts) != 3:
        return False
    try:
        header = _b64url_json(parts[0])
        payload = _b64url_json(parts[1])
    except (ValueError, binascii.Error):
        return False
    return isinstance(header, dict) and "alg" in header and isinstance(payload, dict)


def pypi_macaroon(secret: bytes) -> bool:
    """PyPI API tokens are macaroons whose first caveat names pypi.org or test.pypi.org."""
    body = secret.removeprefix(b"pypi-")
    try:
        decoded = base64.urlsafe_b64decode(body[:48] + b"=" * (-len(body[:48]) % 4))
    except (ValueError, binascii.Error):
        return False
    return b"pypi.org" in decoded


Validator = Callable[[bytes], bool]

VALIDATORS: Mapping[str, Validator] = {
    "github-crc32": base62_crc32_suffix,
    "npm-crc32": base62_crc32_suffix,
    "jwt": jwt_structure,
    "pypi-macaroon": pypi_macaroon,
}
