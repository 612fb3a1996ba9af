"""Waiting with a deadline: the tests' only way to wait for something to happen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    check: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.1
) -> T:
    """Call `check` until it returns something truthy and return that; fail at the deadline.

    Exceptions raised by `check` count as "not yet" until the deadline, then surface.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = check()
            if result:
                return result
            last_error = None
        except Exception as error:
            last_error = error
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}") from last_error
        time.sleep(interval)


async def eventually_async(
    check: Callable[[], Awaitable[T | None]], *, timeout: float, what: str, interval: float = 0.05
) -> T:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = await check()
            if result:
                return result
            last_error = None
        except Exception as error:
            last_error = error
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}") from last_error
        await asyncio.sleep(interval)


def stays(check: Callable[[], bool], *, during: float, what: str, interval: float = 0.2) -> None:
    """Assert that `check` holds for the whole of `during` seconds (something must NOT happen)."""
    deadline = time.monotonic() + during
    while time.monotonic() < deadline:
        assert check(), f"{what} stopped holding"
        time.sleep(interval)
    assert check(), f"{what} stopped holding"
