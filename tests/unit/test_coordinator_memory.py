"""The in-memory coordinator against the coordinator contract, on a fake clock."""

from __future__ import annotations

import pytest

from contract.coordinator_contract import CoordinationKit, CoordinatorContract
from leakmesh.coordination.memory import InMemoryCoordinator
from leakmesh.coordination.protocols import Coordinator


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def coordination() -> CoordinationKit:
    clock = FakeClock()

    async def coordinator() -> Coordinator:
        return InMemoryCoordinator(clock=clock)

    async def let_pass(seconds: float) -> None:
        clock.now += seconds

    return CoordinationKit(coordinator, let_pass)


class TestInMemoryCoordinator(CoordinatorContract):
    pass
