"""`leakmesh rules list|check`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING

from msgspec.structs import replace

from leakmesh.cli.common import (
    EXIT_CLEAN,
    EXIT_FINDINGS,
    add_engine_options,
    build_engine,
    resolve_engine_settings,
)
from leakmesh.engine.anchors import AnchorMode
from leakmesh.engine.rulecheck import example_problems, keyword_problems
from leakmesh.worker.settings import Option, choice

if TYPE_CHECKING:
    from leakmesh.engine.rules import Rule
    from leakmesh.engine.scanner import BufferScanner

LIST_FORMAT = Option("--format", "LEAKMESH_FORMAT", choice("text", "json"), "text")


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], *, summary: str
) -> None:
    parser = subparsers.add_parser("rules", help=summary)
    commands = parser.add_subparsers(dest="rules_command", required=True, metavar="COMMAND")
    listing = commands.add_parser("list", help="list the rules")
    listing.add_argument("--format", help="text (default) or json")
    add_engine_options(listing)
    listing.set_defaults(handler=run_list)
    check = commands.add_parser(
        "check",
        help="run every rule against its examples (exit 1 on any problem)",
        description="Every rule must flag all its examples and none of its negative "
        "examples, in both anchor modes.",
    )
    add_engine_options(check)
    check.set_defaults(handler=run_check)


def _describe(rule: Rule) -> dict[str, object]:
    return {
        "id": rule.id,
        "name": rule.name,
        "confidence": rule.confidence.value,
        "keywords": list(rule.keywords),
        "derived_anchors": [a.decode("latin-1") for a in rule.derived_anchors],
        "validator": rule.validator,
        "min_entropy": rule.min_entropy,
        "placeholder_filter": rule.placeholder_filter,
        "pattern": rule.pattern,
        "examples": len(rule.examples),
        "negative_examples": len(rule.negative_examples),
    }


def run_list(args: argparse.Namespace) -> int:
    from leakmesh.cli.common import load_ruleset

    ruleset = load_ruleset(resolve_engine_settings(args, os.environ))
    if LIST_FORMAT.resolve(args.format, os.environ) == "json":
        json.dump([_describe(r) for r in ruleset.rules], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_CLEAN
    width = max(len(r.id) for r in ruleset.rules)
    for rule in ruleset.rules:
        print(f"{rule.id:<{width}}  {rule.confidence.value:<6}  {rule.name}")
    print(f"{len(ruleset)} rules")
    return EXIT_CLEAN


def run_check(args: argparse.Namespace) -> int:
    settings = resolve_engine_settings(args, os.environ)
    problems: list[str] = []
    ruleset = None
    for mode in AnchorMode:
        engine = build_engine(replace(settings, anchor_mode=mode, decode_depth=0))
        ruleset = engine.ruleset
        scanner = engine.scanner()

        def flags(rule: Rule, text: bytes, scanner: BufferScanner = scanner) -> bool:
            return any(f.rule_id == rule.id for f in scanner.scan(text, path="example.txt"))

        problems.extend(
            f"{p.rule_id}: [{mode.value} anchors] {p.problem}"
            for p in example_problems(ruleset.rules, flags=flags)
        )
    assert ruleset is not None
    for rule in ruleset.rules:
        problems.extend(f"{p.rule_id}: {p.problem}" for p in keyword_problems(rule))
    for line in problems:
        print(f"FAIL {line}")
    print(f"{len(ruleset)} rules checked, {len(problems)} problems")
    return EXIT_FINDINGS if problems else EXIT_CLEAN
