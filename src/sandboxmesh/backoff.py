"""Exponential backoff with full jitter (AWS's "full jitter"): spreads retries of many agents
after an outage instead of having them return in lockstep."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    initial: float
    maximum: float
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        """The delay before the next retry: uniform in [0, min(max, initial * 2^attempt)]."""
        ceiling = min(self.maximum, self.initial * (2**self.attempt))
        self.attempt += 1
        return self.rng.uniform(0, ceiling)

    def reset(self) -> None:
        self.attempt = 0
