"""The CLI's login (URL and token) and the client built from it.

`sandboxmesh login` stores both in $SANDBOXMESH_HOME/credentials.json, readable by the owner
only; SANDBOXMESH_URL and SANDBOXMESH_TOKEN override what is stored.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from sandboxmesh import home
from sandboxmesh.cli.errors import CliError
from sandboxmesh.client import ClientConfig, ControlPlaneClient, errors
from sandboxmesh.client.endpoints import Call

CREDENTIALS_FILE = "credentials.json"
URL_ENV = "SANDBOXMESH_URL"
TOKEN_ENV = "SANDBOXMESH_TOKEN"  # noqa: S105 (a variable's name)


@dataclass(frozen=True)
class Credentials:
    url: str
    token: str


def credentials_path() -> Path:
    return home.sandboxmesh_home() / CREDENTIALS_FILE


def save(credentials: Credentials) -> Path:
    path = credentials_path()
    path.unlink(missing_ok=True)
    # Created 0600 from the start: the token is never readable by others, not even briefly.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump({"url": credentials.url, "token": credentials.token}, file)
    return path


def load() -> Credentials:
    stored: dict[str, str] = {}
    path = credentials_path()
    if path.exists():
        try:
            stored = json.loads(path.read_text())
        except ValueError as error:
            raise CliError(f"{path} is not valid JSON; run `sandboxmesh login` again") from error
    url = os.environ.get(URL_ENV) or stored.get("url")
    token = os.environ.get(TOKEN_ENV) or stored.get("token")
    if not url or not token:
        raise CliError(
            f"not logged in: run `sandboxmesh login --url URL --token TOKEN` "
            f"or set {URL_ENV} and {TOKEN_ENV}"
        )
    return Credentials(url=url, token=token)


@contextlib.contextmanager
def client(credentials: Credentials | None = None) -> Iterator[ControlPlaneClient]:
    """A client for the logged-in control plane; API errors become one-line CLI errors."""
    found = credentials or load()
    with ControlPlaneClient(ClientConfig(url=found.url, token=found.token)) as opened:
        try:
            yield opened
        except errors.ApiError as error:
            raise CliError(f"{error.message} ({error.code})") from error
        except errors.ClientError as error:
            raise CliError(str(error)) from error


T_co = TypeVar("T_co", covariant=True)


class Page(Protocol[T_co]):
    """A page of a listing: its items, and the cursor of the next page (None on the last)."""

    @property
    def items(self) -> Sequence[T_co]: ...

    @property
    def next(self) -> str | None: ...


def every(
    client: ControlPlaneClient, page: Callable[[str | None], Call[Page[T_co]]]
) -> Iterator[T_co]:
    """Every item of a listing, page after page: `page(after)` is the call for one page."""
    after = None
    while True:
        found = client.send(page(after))
        yield from found.items
        after = found.next
        if after is None:
            return
