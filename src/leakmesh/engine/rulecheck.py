"""`rules check`: every rule must flag all its examples and none of its negative examples."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from msgspec import Struct

from leakmesh.engine.rules import Rule

FlaggingRules = Callable[[Rule, bytes], bool]
"""Does `rule` report a finding in this text, through the whole engine?"""


class RuleProblem(Struct, frozen=True):
    rule_id: str
    problem: str


def keyword_problems(rule: Rule) -> list[RuleProblem]:
    """Manual anchors are a prefilter: every example must contain one of the keywords."""
    problems = []
    if not rule.keywords:
        return [RuleProblem(rule.id, "has no keywords (manual anchor mode needs them)")]
    for example in rule.examples:
        lowered = example.lower()
        if not any(k in lowered for k in rule.keywords):
            problems.append(
                RuleProblem(rule.id, f"no keyword {list(rule.keywords)} in example {example!r}")
            )
    return problems


def example_problems(rules: Iterable[Rule], *, flags: FlaggingRules) -> list[RuleProblem]:
    problems: list[RuleProblem] = []
    for rule in rules:
        for example in rule.examples:
            if not flags(rule, example.encode()):
                problems.append(RuleProblem(rule.id, f"does not flag example {example!r}"))
        for negative in rule.negative_examples:
            if flags(rule, negative.encode()):
                problems.append(RuleProblem(rule.id, f"flags negative example {negative!r}"))
    return problems
