"""The on-disk rule cache: a hit decodes no rule until one is needed, and a
damaged file never changes what is found."""

from __future__ import annotations

from pathlib import Path

from leakmesh.engine.rule_cache import cached_ruleset
from leakmesh.engine.rules import Ruleset, builtin_rule_files, parse_rule_files


def load(cache: Path, parses: list[int]) -> Ruleset:
    files = builtin_rule_files()

    def parse() -> Ruleset:
        parses.append(1)
        return parse_rule_files(files, source="builtin")

    return cached_ruleset(files, cache_dir=cache, parse=parse)


def test_a_hit_gives_the_same_rules_and_digest_without_parsing(tmp_path: Path) -> None:
    parses: list[int] = []
    fresh = load(tmp_path, parses)
    cached = load(tmp_path, parses)
    assert parses == [1]
    assert cached.digest == fresh.digest and cached.source == fresh.source
    assert cached.rules == fresh.rules


def test_a_damaged_cache_is_rebuilt_or_bypassed(tmp_path: Path) -> None:
    parses: list[int] = []
    fresh = load(tmp_path, parses)
    [path] = tmp_path.glob("rules-*.json")
    header, _rules = path.read_bytes().split(b"\n", 1)
    path.write_bytes(header + b'\n[{"id": ')  # rules cut short
    damaged = load(tmp_path, parses)
    assert damaged.digest == fresh.digest
    assert len(parses) == 1  # the header was enough: no rule decoded yet
    assert damaged.rules == fresh.rules
    assert len(parses) == 2  # the damaged rules were bypassed, parsed from the sources
    path.write_bytes(b"{not json")
    assert load(tmp_path, parses).rules == fresh.rules
    assert len(parses) == 3
