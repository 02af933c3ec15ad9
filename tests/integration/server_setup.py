"""Starting a test server so that a failure reads as one line."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest

from integration.etcd_server import EtcdServerError
from integration.pg_server import PgServerError

S = TypeVar("S")


def started(start: Callable[[], S]) -> S:
    """`start()`, or the test FAILS (never skips) with the set-up's one-line reason."""
    problem = ""
    try:
        return start()
    except (PgServerError, EtcdServerError) as exc:
        problem = str(exc)
    # Failed outside the except block: one line, no chained traceback.
    pytest.fail(problem, pytrace=False)
