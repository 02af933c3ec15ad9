"""The `leakmesh` console script: `main` with the garbage collector tuned for a
short-lived process that loads a lot at start-up.

Kept apart from `leakmesh.cli.main` so the tuning covers that module's imports
too, and so tests calling `main` in-process keep their interpreter's defaults.
"""

from __future__ import annotations

import gc

YOUNG_GENERATION_THRESHOLD = 100_000
"""Allocations between young collections (CPython's default is 700). Start-up
(psycopg, asyncio, the rules) allocates some hundred thousand long-lived objects;
at the default the collector walks them again and again, some 20 ms of an
incremental rescan's 0.2 s. Cyclic garbage waits a little longer to be freed."""


def run() -> int:
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)
    from leakmesh.cli.main import main

    code = main()
    # Shutdown would otherwise collect every object start-up made, some 30 ms,
    # only to give the memory back to the OS. Frozen objects are skipped; nothing
    # relies on a finalizer at exit (stores, files and pools are closed
    # explicitly; atexit handlers and the flush of stdout/stderr still run).
    gc.freeze()
    return code
