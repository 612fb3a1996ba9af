"""`kube.get_or_none` and `kube.delete_if_exists` let every failure but a 404 through, as
lightkube raised it (the real API server's 404 is tested in tests/integration/kube)."""

from __future__ import annotations

from typing import Any, cast

import httpx2
import pytest
from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import Status
from lightkube.resources.core_v1 import ConfigMap

from sandboxmesh import kube


class Failing:
    """A client whose every get and delete fails with `error`."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error

    async def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error


FORBIDDEN = ApiError(status=Status(code=403, reason="Forbidden", message="no"))
CUT = httpx2.ConnectError("connection refused")


@pytest.mark.parametrize("error", [FORBIDDEN, CUT], ids=["403", "connection"])
async def test_any_failure_but_not_found_is_raised_as_is(error: Exception) -> None:
    client = cast(AsyncClient, Failing(error))
    with pytest.raises(type(error)) as raised:
        await kube.get_or_none(client, ConfigMap, "x", namespace="n")
    assert raised.value is error
    with pytest.raises(type(error)) as raised:
        await kube.delete_if_exists(client, ConfigMap, "x", namespace="n")
    assert raised.value is error


async def test_not_found_is_an_answer() -> None:
    client = cast(AsyncClient, Failing(ApiError(status=Status(code=404, reason="NotFound"))))
    assert await kube.get_or_none(client, ConfigMap, "x", namespace="n") is None
    assert await kube.delete_if_exists(client, ConfigMap, "x", namespace="n") is False
