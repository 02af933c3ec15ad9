from __future__ import annotations

import pytest

from leakmesh.cli import main as cli_main
from leakmesh.cli.common import EXIT_USAGE


def test_a_crash_never_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(_args: object) -> int:
        raise RuntimeError("disk on fire")

    monkeypatch.delenv("LEAKMESH_DEBUG", raising=False)
    parser_default = cli_main.build_parser
    monkeypatch.setattr(
        cli_main,
        "build_parser",
        lambda argv=None: _with_handler(parser_default(argv), boom),
    )
    assert cli_main.main(["scan", "."]) == EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert err == "leakmesh: internal error: RuntimeError: disk on fire"


def _with_handler(parser, handler):  # type: ignore[no-untyped-def]
    parser.set_defaults(handler=handler)
    for action in parser._subparsers._group_actions:
        for sub in action.choices.values():
            sub.set_defaults(handler=handler)
    return parser


def test_only_the_named_command_is_loaded_and_all_are_listed() -> None:
    parser = cli_main.build_parser(["scan", "--format=json", "."])
    [action] = parser._subparsers._group_actions  # type: ignore[union-attr]
    assert list(action.choices) == list(cli_main.COMMANDS)
    scan_options = {o for a in action.choices["scan"]._actions for o in a.option_strings}
    run_options = {o for a in action.choices["run"]._actions for o in a.option_strings}
    assert "--format" in scan_options and run_options == {"-h", "--help"}
    full = cli_main.build_parser()
    [action] = full._subparsers._group_actions  # type: ignore[union-attr]
    assert action.choices["run"]._subparsers is not None
