"""The retry policy of SPEC §8: 1 s, ×2, capped at an hour, ±20 % jitter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leakmesh.ops.retry import Backoff, RetryPolicy

draws = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)
failures = st.integers(min_value=1, max_value=100_000)


def test_the_default_policy_is_the_spec_s() -> None:
    policy = RetryPolicy()
    middle = [policy.delay_s(n, draw=0.5) for n in range(1, 15)]
    assert middle[:5] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert middle[-1] == 3600.0
    assert policy.delay_s(1, draw=0.0) == pytest.approx(0.8)
    assert policy.delay_s(1, draw=0.999999) == pytest.approx(1.2, rel=1e-5)
    assert not policy.gives_up(10**9)


@given(failures, draws)
def test_a_delay_is_within_the_jitter_of_the_capped_exponential(n: int, draw: float) -> None:
    policy = RetryPolicy()
    exponential = min(policy.cap_s, policy.initial_s * 2.0 ** min(n - 1, 20))
    delay = policy.delay_s(n, draw=draw)
    assert 0.8 * exponential <= delay <= min(policy.cap_s, 1.2 * exponential) + 1e-9


@given(failures, draws)
def test_delays_never_shrink_as_failures_go_on_and_never_pass_the_cap(n: int, draw: float) -> None:
    policy = RetryPolicy(initial_s=0.5, factor=3.0, cap_s=100.0)
    assert policy.delay_s(n, draw=draw) <= policy.delay_s(n + 1, draw=draw) <= 100.0


def test_backoff_counts_failures_and_resets_on_success() -> None:
    backoff = Backoff(RetryPolicy(jitter=0.0), draw=lambda: 0.5)
    assert [backoff.failed() for _ in range(3)] == [1.0, 2.0, 4.0]
    assert backoff.succeeded() is True
    assert backoff.succeeded() is False
    assert backoff.failed() == 1.0


def test_a_bounded_policy_gives_up() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert [policy.gives_up(n) for n in (1, 2, 3)] == [False, False, True]


@pytest.mark.parametrize(
    "bad",
    [
        {"initial_s": 0.0},
        {"initial_s": 10.0, "cap_s": 5.0},
        {"factor": 0.5},
        {"jitter": 1.0},
        {"max_attempts": 0},
    ],
)
def test_a_policy_that_makes_no_sense_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**bad)  # type: ignore[arg-type]
