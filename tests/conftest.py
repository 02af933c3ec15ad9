from __future__ import annotations

from pathlib import Path

import pytest

from leakmesh.engine.engine import Engine, EngineOptions
from leakmesh.engine.rules import Ruleset, load_builtin_rules


@pytest.fixture(scope="session")
def builtin_rules() -> Ruleset:
    return load_builtin_rules()


@pytest.fixture(scope="session")
def hs_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hs-cache")


@pytest.fixture(scope="session")
def engine(builtin_rules: Ruleset, hs_cache: Path) -> Engine:
    return Engine(ruleset=builtin_rules, options=EngineOptions(cache_dir=hs_cache))
