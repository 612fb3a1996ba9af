"""Passwords: argon2id hashes (argon2-cffi's defaults, RFC 9106's low-memory profile).

Hashing costs tens of milliseconds and 64 MiB on purpose, so it runs in a worker thread and
never inside a database transaction.
"""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 10
MAX_LENGTH = 256


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@functools.cache
def _decoy() -> str:
    return _hasher().hash("decoy password, never anyone's")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher().hash, password)


async def verify(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; with no hash (unknown email) it spends the same time."""
    try:
        matched = await asyncio.to_thread(_hasher().verify, password_hash or _decoy(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return matched and password_hash is not None


def problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    return None
