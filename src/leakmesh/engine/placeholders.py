"""Recognise values that stand in for a secret rather than being one.

Generic rules (``placeholder_filter = true``) match any value assigned to a
``password``/``secret``/``token`` name; these checks drop templated references,
documentation stand-ins, masks and obvious test values so those rules stay precise.
"""

from __future__ import annotations

import re

PLACEHOLDER_WORDS = frozenset(
    {
        "changeme",
        "change",
        "changeit",
        "example",
        "examples",
        "dummy",
        "placeholder",
        "sample",
        "fake",
        "mock",
        "mocked",
        "todo",
        "fixme",
        "tbd",
        "redacted",
        "removed",
        "hidden",
        "masked",
        "censored",
        "replace",
        "replaceme",
        "insert",
        "enter",
        "your",
        "yourpassword",
        "yoursecret",
        "yourtoken",
        "yourkey",
        "mypassword",
        "mysecret",
        "notreal",
        "notasecret",
        "test",
        "testing",
        "tests",
        "foo",
        "foobar",
        "bar",
        "baz",
        "qux",
        "lorem",
        "ipsum",
        "xxx",
        "xxxx",
        "xxxxx",
        "null",
        "none",
        "nil",
        "undefined",
        "secret",
        "password",
        "passwd",
        "token",
        "apikey",
        "here",
        "goes",
        "value",
        "string",
        "default",
        "required",
        "optional",
        "invalid",
        "wrong",
        "incorrect",
        "bad",
        "random",
        "generated",
        "env",
        "environ",
        "getenv",
        "config",
        "settings",
        "vault",
    }
)
"""Alphabetic runs that mark a value as a stand-in when they appear as a word in it."""

OBVIOUS_VALUES = frozenset(
    {
        "admin",
        "root",
        "pass",
        "qwerty",
        "qwertyuiop",
        "letmein",
        "abc123",
        "welcome",
        "hunter2",
        "true",
        "false",
        "yes",
        "no",
        "on",
        "off",
        "str",
        "bool",
        "int",
        "bytes",
        "text",
        "base64",
        "hex",
        "uuid",
        "sha256",
        "bearer",
        "basic",
        "token",
    }
)
"""Whole values (case-insensitive) that are never worth reporting."""

_SEQUENCES = (
    "0123456789abcdefghijklmnopqrstuvwxyz",
    "abcdefghijklmnopqrstuvwxyz0123456789",
    "9876543210",
    "qwertyuiopasdfghjklzxcvbnm",
    "1qaz2wsx3edc4rfv",
)

_TEMPLATE_RE = re.compile(
    rb"""^(?:
        \$\{.*\}?            # ${VAR}, ${VAR:-x}
      | \$[A-Za-z_][A-Za-z0-9_]*$   # $VAR
      | \$\(.*\)?           # $(command)
      | %\(.*\)s?           # %(name)s
      | %[A-Za-z_][A-Za-z0-9_]*%$   # %VAR%
      | \{\{.*\}\}?         # {{ var }}
      | \{%.*               # {% ... %}
      | \{[A-Za-z_][A-Za-z0-9_.]*\}$   # {name}
      | <%.*                # <%= erb %>
      | \#\{.*\}?           # #{ruby}
      | @[A-Za-z_][A-Za-z0-9_]*@$      # @VAR@
      | <[^<>]{1,64}>$      # <password>
      | \[[^\[\]]{1,64}\]$  # [password]
      | __[A-Za-z0-9_]+__$  # __PASSWORD__
    )""",
    re.VERBOSE,
)

_CODE_REF_RE = re.compile(
    rb"""(?:^|[^A-Za-z0-9])(?:
        process\.env | os\.environ | os\.getenv | getenv\( | environ\[ | ENV\[
      | System\.getenv | Environment\.GetEnvironmentVariable | secrets\.
      | config\[ | settings\. | vault: | ref\+ | ssm: | arn:aws:secretsmanager
    )""",
    re.VERBOSE | re.IGNORECASE,
)

_IDENTIFIER_PATH_RE = re.compile(
    rb"^[A-Za-z_][A-Za-z0-9_]*(?:(?:\.|->|::)[A-Za-z_][A-Za-z0-9_]*)+(?:\(\))?$"
)
_FILE_PATH_RE = re.compile(rb"^(?:/|\./|\.\./|~/|[A-Za-z]:\\|file:)")
_MASK_RE = re.compile(rb"^(?:[*xX#.\-_=?]|\xe2\x80\xa2){3,}$")
_WORD_RE = re.compile(rb"[A-Za-z]+")
_CAMEL_SPLIT_RE = re.compile(rb"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def _words(value: bytes) -> list[bytes]:
    words: list[bytes] = []
    for run in _WORD_RE.findall(value):
        words.append(run.lower())
        parts = _CAMEL_SPLIT_RE.findall(run)
        if len(parts) > 1:
            words.extend(p.lower() for p in parts)
    return words


def is_placeholder(value: bytes) -> bool:
    """True when `value` is a template reference, a documentation stand-in, a mask,
    a sequence or an obvious test value rather than a credential."""
    value = value.strip().strip(b"\"'`")
    if len(value) < 4:
        return True
    lowered = value.lower()
    if lowered.decode("latin-1") in OBVIOUS_VALUES:
        return True
    if _MASK_RE.match(value) or len(set(lowered)) <= 2:
        return True
    if _TEMPLATE_RE.match(value) or _CODE_REF_RE.search(value):
        return True
    if _IDENTIFIER_PATH_RE.match(value) or _FILE_PATH_RE.match(value):
        return True
    text = lowered.decode("latin-1")
    if any(text in seq for seq in _SEQUENCES) and len(text) >= 4:
        return True
    if b"xxxx" in lowered or b"****" in lowered or b"...." in lowered:
        return True
    return any(word.decode() in PLACEHOLDER_WORDS for word in _words(value))
