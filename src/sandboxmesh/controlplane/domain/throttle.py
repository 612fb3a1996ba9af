"""Token buckets by key, for limits on log-in tries and mails: pure, the caller gives the time.

A key's bucket holds up to `burst` tokens and gains one every `refill_seconds`; a try takes
one, and with none left the caller is told how long until the next. Only keys that took
something are remembered, at most `max_keys` of them (the least recently used are forgotten,
which lets them start afresh: memory stays bounded whatever an attacker sends).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float


class Buckets:
    def __init__(self, *, burst: int, refill_seconds: float, max_keys: int) -> None:
        if burst < 1 or refill_seconds <= 0 or max_keys < 1:
            raise ValueError("burst and max_keys must be at least 1, refill_seconds above 0")
        self.burst = burst
        self.refill_seconds = refill_seconds
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def _level(self, key: str, now: float) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            return float(self.burst)
        gained = max(0.0, now - bucket.at) / self.refill_seconds
        return min(float(self.burst), bucket.tokens + gained)

    def wait(self, key: str, now: float) -> float:
        """Seconds until `key` may take a token (0: now)."""
        level = self._level(key, now)
        return 0.0 if level >= 1 else (1 - level) * self.refill_seconds

    def take(self, key: str, now: float) -> None:
        """Take one token; with none left, nothing changes (a refused try costs nothing more,
        and what the bucket regained so far stays)."""
        level = self._level(key, now)
        if level >= 1:
            level -= 1
        self._buckets[key] = _Bucket(tokens=level, at=now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)

    def forget(self, key: str) -> None:
        self._buckets.pop(key, None)
