"""Limits on costly anonymous work: token buckets (pure), and the process's throttle."""

from __future__ import annotations

import asyncio

import pytest

from sandboxmesh.controlplane import errors
from sandboxmesh.controlplane.domain.throttle import Buckets
from sandboxmesh.controlplane.settings import ThrottleSettings
from sandboxmesh.controlplane.throttle import Throttle


def test_a_bucket_allows_its_burst_then_one_per_refill() -> None:
    buckets = Buckets(burst=3, refill_seconds=10, max_keys=100)
    for _ in range(3):
        assert buckets.wait("k", now=0) == 0
        buckets.take("k", now=0)
    assert buckets.wait("k", now=0) == pytest.approx(10)
    assert buckets.wait("k", now=4) == pytest.approx(6)
    assert buckets.wait("k", now=10) == 0
    buckets.take("k", now=10)
    assert buckets.wait("k", now=10) == pytest.approx(10)
    # Refilled over time, never beyond the burst.
    assert buckets.wait("k", now=1000) == 0
    for _ in range(3):
        buckets.take("k", now=1000)
    assert buckets.wait("k", now=1000) > 0
    # Other keys are untouched.
    assert buckets.wait("other", now=0) == 0


def test_a_refused_try_costs_nothing_more() -> None:
    buckets = Buckets(burst=1, refill_seconds=10, max_keys=10)
    buckets.take("k", now=0)
    for moment in (1, 2, 3):
        buckets.take("k", now=moment)  # taking from an empty bucket leaves it empty
    assert buckets.wait("k", now=5) == pytest.approx(5)


def test_memory_stays_bounded_by_forgetting_the_least_recently_used() -> None:
    buckets = Buckets(burst=1, refill_seconds=60, max_keys=3)
    for key in ("a", "b", "c"):
        buckets.take(key, now=0)
    buckets.take("a", now=1)  # a is used again: b is now the oldest
    buckets.take("d", now=2)
    assert len(buckets) == 3
    assert buckets.wait("b", now=2) == 0  # forgotten, so it starts afresh
    assert buckets.wait("a", now=2) > 0
    buckets.forget("a")
    assert buckets.wait("a", now=2) == 0


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Buckets(burst=0, refill_seconds=1, max_keys=1)


def test_the_throttle_names_the_limit_and_when_to_retry() -> None:
    now = [0.0]
    refused: list[str] = []
    throttle = Throttle(
        ThrottleSettings(account_burst=2, address_burst=3, address_refill_seconds=4),
        on_refused=refused.append,
        clock=lambda: now[0],
    )
    for address in ("10.0.0.1", "10.0.0.2"):
        throttle.attempt(account="ada@example.com", address=address)
    with pytest.raises(errors.TooManyRequests) as account:
        throttle.attempt(account="ada@example.com", address="10.0.0.3")
    assert account.value.retry_after == 60
    assert refused == ["account"]
    # The attacked account does not slow another one down.
    throttle.attempt(account="bob@example.com", address="10.0.0.3")
    # A right password clears the account's count.
    throttle.right_password("ada@example.com")
    throttle.attempt(account="ada@example.com", address="10.0.0.3")
    throttle.attempt(account="carol@example.com", address="10.0.0.3")
    with pytest.raises(errors.TooManyRequests) as address:
        throttle.attempt(account="dan@example.com", address="10.0.0.3")
    assert address.value.retry_after == 4
    assert refused == ["account", "address"]
    now[0] = 4.0
    throttle.attempt(account="dan@example.com", address="10.0.0.3")


async def test_hashing_runs_a_bounded_number_at_once_and_refuses_beyond_its_queue() -> None:
    refused: list[str] = []
    throttle = Throttle(
        ThrottleSettings(hash_concurrency=2, hash_queue=1), on_refused=refused.append
    )
    running = 0
    most = 0
    release = asyncio.Event()

    async def hash_once() -> None:
        nonlocal running, most
        async with throttle.hashing():
            running += 1
            most = max(most, running)
            await release.wait()
            running -= 1

    first = [asyncio.create_task(hash_once()) for _ in range(3)]  # 2 run, 1 waits
    await asyncio.sleep(0)
    with pytest.raises(errors.Unavailable):
        async with throttle.hashing():
            pass
    assert refused == ["hashing"]
    release.set()
    await asyncio.gather(*first)
    assert most == 2
    async with throttle.hashing():  # the queue drained: taken again at once
        pass
