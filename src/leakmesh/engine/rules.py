"""Rules as data: the model, the TOML loader and its validation.

A rule file holds ``[[rule]]`` tables; see ``docs/RULES.md`` for the schema.
"""

from __future__ import annotations

import re
import re._constants as sre_constants  # type: ignore[import-not-found]
import re._parser as sre_parse  # type: ignore[import-not-found]
from collections.abc import Callable, Iterable, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from msgspec import Struct, field

from leakmesh.engine.anchors import anchors_of
from leakmesh.engine.errors import RuleError

MAX_MATCH_WIDTH = 16_384
"""Bytes: the widest text any rule may match; bounds the windows `re` re-reads."""

_ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class Confidence(str, Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return _CONFIDENCE_RANK[self]

    def raised(self) -> Confidence:
        return Confidence.HIGH

    def lowered(self) -> Confidence:
        return Confidence.LOW


_CONFIDENCE_RANK = {Confidence.LOW: 0, Confidence.MEDIUM: 1, Confidence.HIGH: 2}


class Allowlist(Struct, frozen=True):
    """What a rule must not report: secrets matching `regexes`, secrets containing a
    stopword, and items whose path matches one of `paths` (patterns compile on use)."""

    regexes: tuple[str, ...] = ()
    stopwords: tuple[bytes, ...] = ()
    paths: tuple[str, ...] = ()

    def allows_secret(self, secret: bytes) -> bool:
        if self.stopwords:
            lowered = secret.lower()
            if any(word in lowered for word in self.stopwords):
                return True
        return any(compile_bytes(p).search(secret) for p in self.regexes)

    def allows_path(self, path: str) -> bool:
        return any(compile_str(p).search(path) for p in self.paths)


class Rule(Struct, frozen=True):
    id: str
    name: str
    pattern: str
    secret_group: int | str
    keywords: tuple[str, ...]
    confidence: Confidence
    min_entropy: float | None = None
    validator: str | None = None
    placeholder_filter: bool = False
    allowlist: Allowlist = field(default_factory=Allowlist)
    examples: tuple[str, ...] = ()
    negative_examples: tuple[str, ...] = ()
    description: str = ""
    needs_prefilter: bool = False
    """True when Hyperscan cannot take the pattern exactly (lookarounds or
    back-references): it then compiles a superset and `re` decides."""
    max_width: int = 0
    """Bytes: the longest text the pattern can match."""
    derived_anchors: tuple[bytes, ...] = ()
    """Literals every match contains, derived from the pattern (`anchors.py`)."""

    def compiled(self) -> re.Pattern[bytes]:
        return compile_bytes(self.pattern)


_bytes_patterns: dict[str, re.Pattern[bytes]] = {}
_str_patterns: dict[str, re.Pattern[str]] = {}


def compile_bytes(pattern: str) -> re.Pattern[bytes]:
    """Compiled once per process, on first use (most rules never match)."""
    compiled = _bytes_patterns.get(pattern)
    if compiled is None:
        compiled = _bytes_patterns[pattern] = re.compile(pattern.encode())
    return compiled


def compile_str(pattern: str) -> re.Pattern[str]:
    compiled = _str_patterns.get(pattern)
    if compiled is None:
        compiled = _str_patterns[pattern] = re.compile(pattern)
    return compiled


class Ruleset:
    """The rules, where they came from, and their digest: the hash of everything
    in them that changes what is found (computed when not given). A cached
    ruleset decodes its rules on first use (`load`): a run with nothing new to
    scan needs only the digest."""

    __slots__ = ("_load", "_rules", "digest", "source")

    def __init__(
        self,
        rules: Sequence[Rule] | None = None,
        source: str = "",
        digest: str = "",
        *,
        load: Callable[[], Sequence[Rule]] | None = None,
    ) -> None:
        if (rules is None) == (load is None):
            raise ValueError("a ruleset takes its rules or a way to load them")
        if load is not None and not digest:
            raise ValueError("a ruleset loaded later needs its digest now")
        self._rules = None if rules is None else tuple(rules)
        self._load = load
        self.source = source
        self.digest = digest
        if not digest:
            from leakmesh.engine.fingerprint import ruleset_hash

            self.digest = ruleset_hash(self)

    @property
    def rules(self) -> tuple[Rule, ...]:
        if self._rules is None:
            assert self._load is not None
            # Two threads may both load: the results are equal, either is kept.
            self._rules = tuple(self._load())
        return self._rules

    def __len__(self) -> int:
        return len(self.rules)

    def __repr__(self) -> str:
        return f"Ruleset(source={self.source!r}, digest={self.digest[:16]!r})"

    def by_id(self) -> dict[str, Rule]:
        return {rule.id: rule for rule in self.rules}

    def content_hash(self) -> str:
        return self.digest


_LOOKAROUND_OPS = {
    sre_constants.ASSERT,
    sre_constants.ASSERT_NOT,
    sre_constants.GROUPREF,
    sre_constants.GROUPREF_EXISTS,
}


def _needs_prefilter(parsed: Any) -> bool:
    """Does the pattern use constructs Hyperscan cannot match exactly?"""
    for op, arg in parsed:
        if op in _LOOKAROUND_OPS:
            return True
        if op is sre_constants.BRANCH:
            children = arg[1]
        elif op is sre_constants.SUBPATTERN:
            children = [arg[-1]]
        elif op in (
            sre_constants.MAX_REPEAT,
            sre_constants.MIN_REPEAT,
            sre_constants.POSSESSIVE_REPEAT,
        ):
            children = [arg[2]]
        elif op is sre_constants.ATOMIC_GROUP:
            children = [arg]
        else:
            continue
        if any(_needs_prefilter(child) for child in children):
            return True
    return False


def _str_list(raw: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RuleError(f"{where}: '{key}' must be a list of strings")
    return tuple(value)


def _parse_allowlist(raw: Any, where: str) -> Allowlist:
    if raw is None:
        return Allowlist()
    if not isinstance(raw, dict):
        raise RuleError(f"{where}: 'allowlist' must be a table")
    unknown = set(raw) - {"regexes", "stopwords", "paths"}
    if unknown:
        raise RuleError(f"{where}: unknown allowlist key(s) {sorted(unknown)}")
    regexes = _str_list(raw, "regexes", where)
    paths = _str_list(raw, "paths", where)
    try:
        for pattern in regexes:
            compile_bytes(pattern)
        for pattern in paths:
            compile_str(pattern)
    except re.error as exc:
        raise RuleError(f"{where}: bad allowlist regex: {exc}") from None
    stopwords = tuple(w.lower().encode() for w in _str_list(raw, "stopwords", where))
    return Allowlist(regexes=regexes, stopwords=stopwords, paths=paths)


_RULE_KEYS = {
    "id",
    "name",
    "description",
    "pattern",
    "secret_group",
    "keywords",
    "confidence",
    "min_entropy",
    "validator",
    "placeholder_filter",
    "allowlist",
    "examples",
    "negative_examples",
}


def parse_rule(raw: dict[str, Any], *, where: str, validators: Iterable[str]) -> Rule:
    """Validate one ``[[rule]]`` table; raise `RuleError` naming what is wrong."""
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not _ID_RE.match(rule_id):
        raise RuleError(f"{where}: 'id' must be kebab-case, got {rule_id!r}")
    where = f"{where} rule {rule_id}"
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise RuleError(f"{where}: unknown key(s) {sorted(unknown)}")
    name = raw.get("name")
    pattern = raw.get("pattern")
    if not isinstance(name, str) or not name:
        raise RuleError(f"{where}: 'name' is required")
    if not isinstance(pattern, str) or not pattern:
        raise RuleError(f"{where}: 'pattern' is required")
    try:
        parsed = sre_parse.parse(pattern)
        compiled = compile_bytes(pattern)
    except (re.error, OverflowError) as exc:
        raise RuleError(f"{where}: pattern does not compile: {exc}") from None
    max_width = parsed.getwidth()[1]
    if max_width > MAX_MATCH_WIDTH:
        raise RuleError(
            f"{where}: pattern can match more than {MAX_MATCH_WIDTH} bytes; "
            "bound every repetition ({0,N} instead of * and +)"
        )
    group = raw.get("secret_group", 1 if compiled.groups else 0)
    if isinstance(group, str):
        if group not in compiled.groupindex:
            raise RuleError(f"{where}: secret_group {group!r} is not a group of the pattern")
    elif not isinstance(group, int) or not 0 <= group <= compiled.groups:
        raise RuleError(f"{where}: secret_group {group!r} is not a group of the pattern")
    confidence_raw = raw.get("confidence", "medium")
    try:
        confidence = Confidence(confidence_raw)
    except ValueError:
        raise RuleError(f"{where}: confidence must be low, medium or high") from None
    min_entropy = raw.get("min_entropy")
    if min_entropy is not None and not isinstance(min_entropy, int | float):
        raise RuleError(f"{where}: 'min_entropy' must be a number")
    validator = raw.get("validator")
    if validator is not None and validator not in set(validators):
        raise RuleError(f"{where}: unknown validator {validator!r}")
    keywords = tuple(k.lower() for k in _str_list(raw, "keywords", where))
    placeholder_filter = raw.get("placeholder_filter", False)
    if not isinstance(placeholder_filter, bool):
        raise RuleError(f"{where}: 'placeholder_filter' must be true or false")
    examples = _str_list(raw, "examples", where)
    if not examples:
        raise RuleError(f"{where}: at least one example is required")
    return Rule(
        id=rule_id,
        name=name,
        description=str(raw.get("description", "")),
        pattern=pattern,
        secret_group=group,
        keywords=keywords,
        confidence=confidence,
        min_entropy=float(min_entropy) if min_entropy is not None else None,
        validator=validator,
        placeholder_filter=placeholder_filter,
        allowlist=_parse_allowlist(raw.get("allowlist"), where),
        examples=examples,
        negative_examples=_str_list(raw, "negative_examples", where),
        needs_prefilter=_needs_prefilter(parsed),
        max_width=int(max_width),
        derived_anchors=anchors_of(parsed),
    )


def _load_toml(text: str, where: str) -> dict[str, Any]:
    import tomllib  # only on a cache miss: parsing is the slow path

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{where}: not valid TOML: {exc}") from None


def parse_rules_toml(text: str, *, where: str, validators: Iterable[str]) -> list[Rule]:
    return _parse_rule_tables(_load_toml(text, where), where=where, validators=validators)


def _parse_rule_tables(doc: dict[str, Any], *, where: str, validators: Iterable[str]) -> list[Rule]:
    unknown = set(doc) - {"rule", "extend_builtin"}
    if unknown:
        raise RuleError(f"{where}: unknown top-level key(s) {sorted(unknown)}")
    tables = doc.get("rule", [])
    if not isinstance(tables, list):
        raise RuleError(f"{where}: expected [[rule]] tables")
    names = tuple(validators)
    return [parse_rule(t, where=where, validators=names) for t in tables]


def _check_unique(rules: Sequence[Rule]) -> None:
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise RuleError(f"duplicate rule id {rule.id!r}")
        seen.add(rule.id)


BUILTIN_RULES_DIR = Path(__file__).with_name("rules")
"""Installed as package data beside this module (importlib.resources would cost
more start-up than the rest of rule loading; leakmesh never runs from a zip)."""


def builtin_rule_files() -> list[tuple[str, bytes]]:
    entries = sorted(BUILTIN_RULES_DIR.glob("*.toml"), key=lambda e: e.name)
    return [(e.name, e.read_bytes()) for e in entries]


def parse_rule_files(files: Sequence[tuple[str, bytes]], *, source: str) -> Ruleset:
    from leakmesh.engine.validators import VALIDATORS

    rules: list[Rule] = []
    for name, data in files:
        rules.extend(
            parse_rules_toml(data.decode("utf-8"), where=f"{source}:{name}", validators=VALIDATORS)
        )
    _check_unique(rules)
    return Ruleset(rules=tuple(rules), source=source)


def load_builtin_rules(*, cache_dir: Path | None = None) -> Ruleset:
    """The built-in rules; with `cache_dir`, validated once per version of the files."""
    files = builtin_rule_files()
    if cache_dir is None:
        return parse_rule_files(files, source="builtin")
    from leakmesh.engine.rule_cache import cached_ruleset

    return cached_ruleset(
        files, cache_dir=cache_dir, parse=lambda: parse_rule_files(files, source="builtin")
    )


def load_rules_file(path: Path) -> Ruleset:
    """Rules from a user file; ``extend_builtin = true`` at its top adds them to the
    built-in rules instead of replacing those."""
    from leakmesh.engine.validators import VALIDATORS

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleError(f"cannot read rules file {path}: {exc.strerror}") from None
    doc = _load_toml(text, str(path))
    rules = _parse_rule_tables(doc, where=str(path), validators=VALIDATORS)
    if not rules:
        raise RuleError(f"{path}: no [[rule]] tables")
    if doc.get("extend_builtin", False) is True:
        rules = [*load_builtin_rules().rules, *rules]
    _check_unique(rules)
    return Ruleset(rules=tuple(rules), source=str(path))
