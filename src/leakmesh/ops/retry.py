"""The retry policy of SPEC §8: exponential backoff with proportional jitter.

Pure arithmetic with the random draw passed in, so that callers and tests choose
their own source of randomness; `Backoff` counts one operation's consecutive
failures. Written here rather than taken from tenacity: the fleet's retry loops
wait on their own stop events between attempts, and tenacity's jitter is
additive, not the policy's ±20 %.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from msgspec import Struct

INITIAL_DELAY_S = 1.0
GROWTH_FACTOR = 2.0
MAX_DELAY_S = 3600.0
JITTER = 0.2
"""A delay is drawn uniformly within ±20 % of the exponential one."""


class RetryPolicy(Struct, frozen=True):
    initial_s: float = INITIAL_DELAY_S
    factor: float = GROWTH_FACTOR
    cap_s: float = MAX_DELAY_S
    """No delay is longer, jitter included."""
    jitter: float = JITTER
    max_attempts: int | None = None
    """Failures after which the caller gives up; None: never."""

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.cap_s:
            raise ValueError("a retry policy needs 0 < initial delay <= cap")
        if self.factor < 1 or not 0 <= self.jitter < 1:
            raise ValueError("a retry policy needs factor >= 1 and 0 <= jitter < 1")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("a retry policy needs at least one attempt")

    def delay_s(self, failures: int, *, draw: float) -> float:
        """Seconds to wait after the `failures`-th consecutive failure (1, 2, …);
        `draw` is uniform in [0, 1)."""
        if failures < 1:
            raise ValueError("delay_s counts failures from 1")
        # The exponent stops growing once the cap is reached (no float overflow).
        steps = failures - 1
        if self.factor > 1:
            steps = min(steps, math.ceil(math.log(self.cap_s / self.initial_s, self.factor)))
        exponential = min(self.cap_s, self.initial_s * self.factor**steps)
        return min(self.cap_s, exponential * (1 + self.jitter * (2 * draw - 1)))

    def gives_up(self, failures: int) -> bool:
        return self.max_attempts is not None and failures >= self.max_attempts


class Backoff:
    """One operation's consecutive failures under a policy."""

    def __init__(self, policy: RetryPolicy, *, draw: Callable[[], float] = random.random) -> None:
        self.policy = policy
        self.failures = 0
        self._draw = draw

    def failed(self) -> float:
        """Count a failure; the seconds to wait before the next attempt."""
        self.failures += 1
        return self.policy.delay_s(self.failures, draw=self._draw())

    def succeeded(self) -> bool:
        """Reset; True when this ended a run of failures."""
        recovered = self.failures > 0
        self.failures = 0
        return recovered
