from __future__ import annotations

import pytest

from leakmesh.cli import main as cli_main
from leakmesh.cli.common import EXIT_USAGE


def test_a_crash_never_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(_args: object) -> int:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(cli_main.scan_cmd, "run", boom)
    monkeypatch.delenv("LEAKMESH_DEBUG", raising=False)
    parser_default = cli_main.build_parser
    monkeypatch.setattr(
        cli_main,
        "build_parser",
        lambda: _with_handler(parser_default(), boom),
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
