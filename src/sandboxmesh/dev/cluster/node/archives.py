"""Image archives into the real node's containerd, as `kind load image-archive` does.

An archive is an OCI layout (`index.json`, `oci-layout`) or a docker one (`manifest.json`)
in a tar file, as `buildah push ... docker-archive:` or `docker save` write them. Each is
checked before any is imported, so a wrong file imports nothing.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

#: The CRI's namespace in containerd: the kubelet sees images imported there.
K8S_NAMESPACE = "k8s.io"


class NotAnImageArchive(ValueError):
    """The file is not an OCI or docker image archive; the message names it and why."""


def image_names(archive: Path) -> list[str]:
    """The image references an archive holds (may be empty for an untagged OCI layout);
    raises NotAnImageArchive when it is not one."""
    try:
        with tarfile.open(archive) as tar:
            members = {m.name.removeprefix("./"): m for m in tar.getmembers()}
            if "manifest.json" in members:
                manifest = _json_member(tar, members["manifest.json"], archive)
                if not isinstance(manifest, list):
                    raise NotAnImageArchive(f"{archive}: manifest.json is not a list of images")
                return [tag for entry in manifest for tag in entry.get("RepoTags") or []]
            if "index.json" in members and "oci-layout" in members:
                index = _json_member(tar, members["index.json"], archive)
                if not isinstance(index, dict):
                    raise NotAnImageArchive(f"{archive}: index.json is not an image index")
                return [
                    name
                    for m in index.get("manifests", [])
                    if (name := (m.get("annotations") or {}).get("io.containerd.image.name"))
                    or (
                        name := (m.get("annotations") or {}).get(
                            "org.opencontainers.image.ref.name"
                        )
                    )
                ]
    except FileNotFoundError:
        raise NotAnImageArchive(f"{archive}: no such file") from None
    except (tarfile.TarError, OSError) as error:
        raise NotAnImageArchive(f"{archive}: not a tar archive ({error})") from None
    raise NotAnImageArchive(
        f"{archive}: not an image archive (no manifest.json, nor index.json with oci-layout)"
    )


def _json_member(tar: tarfile.TarFile, member: tarfile.TarInfo, archive: Path) -> object:
    handle = tar.extractfile(member)
    try:
        return json.loads(handle.read(1 << 20) if handle else b"")
    except ValueError:
        raise NotAnImageArchive(f"{archive}: {member.name} is not JSON") from None


def load(archives: list[Path], containerd_socket: Path, ctr: str = "ctr") -> list[str]:
    """Import every archive into the node; returns the image names imported.

    All are checked first; an import that containerd refuses raises RuntimeError with its
    words (the archives imported before it stay: each import is whole or nothing)."""
    names = [image_names(archive) for archive in archives]
    imported: list[str] = []
    for archive, found in zip(archives, names, strict=True):
        result = subprocess.run(
            [ctr, "--address", str(containerd_socket), "-n", K8S_NAMESPACE,
             "images", "import", "--snapshotter", "overlayfs", str(archive)],
            capture_output=True, text=True,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"containerd refused {archive}: {result.stderr.strip()}")
        imported += found
    return imported


def list_images(containerd_socket: Path, ctr: str = "ctr") -> list[str]:
    result = subprocess.run(
        [ctr, "--address", str(containerd_socket), "-n", K8S_NAMESPACE, "images", "ls", "-q"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return result.stdout.split()
