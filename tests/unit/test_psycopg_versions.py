"""The version modules leakmesh provides for psycopg say what importlib.metadata
says, and spare its import."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest

from leakmesh.store.psycopg_versions import PACKAGES, installed_version


@pytest.mark.parametrize("package", PACKAGES)
def test_the_version_is_the_installed_distributions(package: str) -> None:
    assert installed_version(package) == metadata.version(package)


def test_an_unknown_package_has_none() -> None:
    assert installed_version("leakmesh_no_such_package") is None


def test_importing_the_postgres_store_loads_no_importlib_metadata() -> None:
    probe = (
        "import sys, leakmesh.store.postgres, psycopg, psycopg_pool; "
        "print('importlib.metadata' in sys.modules, psycopg.__version__, psycopg_pool.__version__)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded, psycopg_version, pool_version = done.stdout.split()
    assert loaded == "False"
    assert psycopg_version == metadata.version("psycopg")
    assert pool_version == metadata.version("psycopg_pool")
