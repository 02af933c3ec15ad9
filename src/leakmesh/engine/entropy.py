"""Shannon entropy of candidate secrets."""

from __future__ import annotations

import math
from collections import Counter


def shannon_entropy(data: bytes) -> float:
    """Bits per byte of `data` (0.0 for empty input)."""
    if not data:
        return 0.0
    length = len(data)
    return -sum((n / length) * math.log2(n / length) for n in Counter(data).values())
