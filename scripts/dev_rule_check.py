"""Check rule files quickly without the full engine: `python scripts/dev_rule_check.py FILE...`.

Runs each rule's examples through `confirm` (Python re + filters) and compiles the
pattern with Hyperscan. `leakmesh rules check` is the authoritative check.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hyperscan

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from leakmesh.engine.confirm import confirm
from leakmesh.engine.errors import RuleError
from leakmesh.engine.rulecheck import example_problems, keyword_problems
from leakmesh.engine.rules import parse_rules_toml
from leakmesh.engine.validators import VALIDATORS


def main() -> int:
    failed = 0
    ids: dict[str, str] = {}
    total = 0
    for name in sys.argv[1:]:
        try:
            rules = parse_rules_toml(Path(name).read_text(), where=name, validators=VALIDATORS)
        except RuleError as exc:
            print(f"ERROR {exc}")
            failed += 1
            continue
        for rule in rules:
            total += 1
            if rule.id in ids:
                print(f"ERROR duplicate id {rule.id} in {name} and {ids[rule.id]}")
                failed += 1
            ids[rule.id] = name
            db = hyperscan.Database()
            flag = hyperscan.HS_FLAG_PREFILTER if rule.needs_prefilter else 0
            try:
                db.compile(expressions=[rule.pattern.encode()], flags=[flag])
            except hyperscan.error as exc:
                print(f"ERROR {rule.id}: hyperscan rejects pattern: {exc}")
                failed += 1
        problems = [p for r in rules for p in keyword_problems(r)]
        problems += example_problems(rules, flags=lambda r, t: any(True for _ in confirm(r, t)))
        for problem in problems:
            print(f"FAIL {problem.rule_id}: {problem.problem}")
            failed += 1
    print(f"{total} rules, {failed} problems")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
