"""Calls to the API server where an object's absence is an answer, not a failure.

`get_or_none` and `delete_if_exists` turn the API server's 404 into None and False; every
other failure propagates as lightkube raised it (one of `errors.CLIENT_ERRORS`), so a loop
that retries those keeps doing so.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from lightkube import AsyncClient

from sandboxmesh.kube import errors

R = TypeVar("R")


async def get_or_none(
    client: AsyncClient, resource: type[R], name: str, *, namespace: str | None = None
) -> R | None:
    """The object `name` of `resource` (in `namespace`, for a namespaced resource), or None
    when the API server has no such object."""
    try:
        # lightkube's overloads tell global from namespaced resources; either is fine here.
        return cast(R, await client.get(cast(Any, resource), name, namespace=namespace))
    except errors.CLIENT_ERRORS as error:
        if errors.is_not_found(error):
            return None
        raise


async def delete_if_exists(
    client: AsyncClient, resource: type[Any], name: str, *, namespace: str | None = None
) -> bool:
    """Ask for the deletion of the object `name`; False when there was no such object."""
    try:
        await client.delete(cast(Any, resource), name, namespace=namespace)
    except errors.CLIENT_ERRORS as error:
        if errors.is_not_found(error):
            return False
        raise
    return True
