"""psycopg's version modules, provided without importlib.metadata.

psycopg, psycopg_binary and psycopg_pool each set ``__version__`` on import with
``importlib.metadata.version(...)``. On Python 3.11 that import (email, zipfile,
csv, ...) plus three scans of ``sys.path`` costs some 15-20 ms, more than
everything else an incremental rescan against PostgreSQL does. Their ``version``
modules hold nothing but ``__version__``, so `register` puts equivalent ones in
``sys.modules`` first, read from the ``<name>-<version>.dist-info`` directory the
installer left next to each package. Where there is no single such directory
(an unusual layout), nothing is registered and the package imports as usual.
``tests/unit/test_psycopg_versions.py`` checks the versions against
importlib.metadata.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types

PACKAGES = ("psycopg", "psycopg_binary", "psycopg_pool")
"""Import names; a wheel's dist-info directory uses the same spelling."""


def register() -> None:
    """Provide ``<package>.version`` for each of `PACKAGES` not imported yet."""
    wanted = [p for p in PACKAGES if p not in sys.modules and f"{p}.version" not in sys.modules]
    for package, version in installed_versions(wanted).items():
        name = f"{package}.version"
        module = types.ModuleType(name, f"{package}'s version, from its dist-info.")
        module.__version__ = version  # type: ignore[attr-defined]
        sys.modules[name] = module


def installed_version(package: str) -> str | None:
    return installed_versions([package]).get(package)


def installed_versions(packages: list[str]) -> dict[str, str]:
    """Each package's version, from the name of the one dist-info directory beside
    it; packages without exactly one are left out. Each directory is listed once."""
    listings: dict[str, list[str]] = {}
    versions: dict[str, str] = {}
    for package in packages:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        site = os.path.dirname(next(iter(spec.submodule_search_locations)))
        if site not in listings:
            try:
                listings[site] = os.listdir(site)
            except OSError:
                listings[site] = []
        prefix, suffix = f"{package}-", ".dist-info"
        found = [
            entry[len(prefix) : -len(suffix)]
            for entry in listings[site]
            if entry.startswith(prefix) and entry.endswith(suffix)
        ]
        if len(found) == 1:
            versions[package] = found[0]
    return versions
