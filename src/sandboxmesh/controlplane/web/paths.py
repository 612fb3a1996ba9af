"""The path parameters the API and the portal share: names and keys as they appear in URLs.

Checked before any route runs, with the same bounds everywhere, so a name the API refuses is
refused by the portal's pages in the same way.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from sandboxmesh.spec import names

SandboxName = Annotated[
    str, Path(min_length=1, max_length=names.SANDBOX_NAME_MAX, pattern=names.DNS_LABEL_PATTERN)
]
TeamName = Annotated[str, Path(min_length=1, max_length=63, pattern=names.DNS_LABEL_PATTERN)]
ClusterName = Annotated[str, Path(min_length=1, max_length=63, pattern=names.DNS_LABEL_PATTERN)]
EmailPath = Annotated[str, Path(min_length=3, max_length=254)]
#: The visible start of a token (API or cluster token, invitation), as listed.
PrefixPath = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$")]
#: An organisation's name where no token says which: the webhook's path. No pattern, so that
#: a name of any shape gets the answer an unknown organisation gets (the webhook's 401).
OrgName = Annotated[str, Path(min_length=1, max_length=63)]
