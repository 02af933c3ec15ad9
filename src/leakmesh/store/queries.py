"""Named SQL queries kept in ``queries/<dialect>.sql``.

A file holds queries separated by ``-- name: <name>`` lines; each query is the
text up to the next marker. Identifiers are fixed in the files, values are
always bound parameters.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_MARKER = "-- name:"


@cache
def load_queries(dialect: str) -> dict[str, str]:
    # Package data beside this module, read as files (cheaper to start than
    # importlib.resources; leakmesh never runs from a zip).
    text = (Path(__file__).with_name("queries") / f"{dialect}.sql").read_text(encoding="utf-8")
    queries: dict[str, str] = {}
    name: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        if line.startswith(_MARKER):
            if name is not None:
                queries[name] = "\n".join(body).strip()
            name, body = line[len(_MARKER) :].strip(), []
        elif name is not None and not line.lstrip().startswith("--"):
            body.append(line)
    if name is not None:
        queries[name] = "\n".join(body).strip()
    return queries
