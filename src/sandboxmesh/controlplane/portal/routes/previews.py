"""The authorize page of authenticated previews (docs/preview-urls.md): a preview gateway
sends a browser without a valid cookie here; a signed-in member of the sandbox's organisation
is sent back to the gateway with a token, anyone else gets a page saying why (never a
redirect elsewhere). Not signed in: the log-in page first, which returns here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import RedirectResponse, Response

from sandboxmesh.controlplane import errors, links
from sandboxmesh.controlplane.portal.context import SignedIn
from sandboxmesh.controlplane.usecases import previews
from sandboxmesh.spec import preview

router = APIRouter()

# Longer than any preview URL (usecases.previews refuses those with a message); beyond this,
# the request is refused as malformed before anything else reads it.
_MAX_PARAM = 4096


@router.get(links.PREVIEW_AUTHORIZE)
async def authorize(
    member: SignedIn,
    url: Annotated[
        str | None, Query(alias=preview.AUTHORIZE_URL_PARAM, max_length=_MAX_PARAM)
    ] = None,
) -> Response:
    if not url:
        raise errors.BadRequest("This page needs the preview address to open (?url=...).")
    location = await previews.authorize(member.visitor.runtime, member.principal, url)
    # 303: the browser follows with a GET whatever brought it here.
    return RedirectResponse(location, status_code=303)
