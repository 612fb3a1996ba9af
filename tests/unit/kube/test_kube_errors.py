"""Our Kubernetes error types over lightkube's (which are httpx2's, not httpx's)."""

from __future__ import annotations

import httpx
import httpx2
import pytest
from lightkube import ApiError
from lightkube.models.meta_v1 import Status

from sandboxmesh import kube
from sandboxmesh.kube import errors


def test_a_refusal_becomes_a_kube_api_error_with_its_status_chained_to_the_original() -> None:
    refusal = ApiError(
        status=Status(code=404, reason="NotFound", message='namespaces "x" not found')
    )
    with pytest.raises(kube.KubeApiError) as raised, errors.translated():
        raise refusal
    assert (raised.value.code, raised.value.reason) == (404, "NotFound")
    assert raised.value.api_error is refusal
    assert raised.value.__cause__ is refusal
    assert str(raised.value) == 'API server answered 404 NotFound: namespaces "x" not found'


def test_a_watch_cut_off_is_a_connection_error_naming_the_client_error() -> None:
    cut = httpx2.RemoteProtocolError("peer closed connection without sending complete message body")
    with pytest.raises(kube.KubeConnectionError) as raised, errors.translated():
        raise cut
    assert raised.value.__cause__ is cut
    assert str(raised.value).startswith("RemoteProtocolError: peer closed connection")


def test_an_answer_without_a_status_body_keeps_its_http_code() -> None:
    request = httpx2.Request("GET", "https://kube.invalid/api")
    response = httpx2.Response(503, text="shutting down", request=request)
    error = httpx2.HTTPStatusError("503", request=request, response=response)
    wrapped = errors.wrap(error)
    assert isinstance(wrapped, kube.KubeApiError)
    assert (wrapped.code, wrapped.api_error) == (503, None)


def test_the_client_errors_are_httpx2s_and_not_httpxs() -> None:
    # The fault this layer exists for: lightkube's errors are not httpx.HTTPError.
    assert not issubclass(httpx2.RemoteProtocolError, httpx.HTTPError)
    assert issubclass(httpx2.RemoteProtocolError, kube.CLIENT_ERRORS)
    assert issubclass(ApiError, kube.CLIENT_ERRORS)


def test_other_errors_pass_through_untouched() -> None:
    with pytest.raises(KeyError), errors.translated():
        raise KeyError("a bug")


def test_a_refusal_is_told_from_a_connection_failure_by_our_layer() -> None:
    not_found = ApiError(status=Status(code=404, reason="NotFound", message="gone"))
    conflict = ApiError(status=Status(code=409, reason="AlreadyExists", message="there"))
    cut = httpx2.RemoteProtocolError("peer closed connection")
    refused = errors.refusal(conflict)
    assert refused is not None
    assert (refused.code, refused.reason, refused.__class__) == (
        409,
        "AlreadyExists",
        kube.KubeApiError,
    )
    assert errors.refusal(cut) is None
    assert errors.refusal(ValueError("not a client error")) is None
    assert errors.is_not_found(not_found)
    assert not errors.is_not_found(conflict)
    assert not errors.is_not_found(cut)
