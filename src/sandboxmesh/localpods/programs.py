"""Which local program a container image stands for.

A local node cannot pull images: each image the tests or the demo deploy names a program on
this machine instead. An image of the same repository with another tag (a fork's image
customization, `demo-app:pr-42`) runs the same program, so forks that change only the tag
still run; the image itself reaches the program as SANDBOXMESH_IMAGE.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Program:
    """A command line, and environment variables it needs besides the container's own."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)


def repository(image: str) -> str:
    """The image without its tag or digest: `registry:5000/app:1` -> `registry:5000/app`."""
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


@dataclass(frozen=True)
class Programs:
    """Images -> programs; `for_image` also matches another tag of a known repository."""

    by_image: Mapping[str, Program]

    def for_image(self, image: str) -> Program | None:
        exact = self.by_image.get(image)
        if exact is not None:
            return exact
        wanted = repository(image)
        for known, program in sorted(self.by_image.items()):
            if repository(known) == wanted:
                return program
        return None
