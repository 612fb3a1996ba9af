"""Images without Docker: a Debian base made by mmdebstrap, Containerfiles built by buildah.

buildah keeps its own storage under the cache (vfs driver, chroot isolation: no daemon, no
overlay-on-overlay, works as root in a VM), so the base is made once per key and every
image's layers are reused by the next build. Each built image is written once to a docker
archive keyed by the hash of its Containerfile, context and base: the next build with the same
inputs only finds the file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: The base every image starts from: Debian's bookworm with its python3 (3.11), and the C++
#: runtime that grpcio's extension links against.
BASE_SUITE = "bookworm"
BASE_PACKAGES = ("python3", "ca-certificates", "libstdc++6")
#: Left out of the base: documentation, manuals and locales nobody reads in a container.
BASE_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*", "/usr/share/info/*")


class ImageBuildFailed(RuntimeError):
    """A build step failed; the message names the step and carries the tool's last words."""


@dataclass(frozen=True)
class Buildah:
    cache: Path

    @property
    def storage(self) -> Path:
        return self.cache / "buildah" / "storage"

    def _argv(self, *args: str) -> list[str]:
        return [
            "buildah",
            "--root", str(self.storage),
            "--runroot", str(self.cache / "buildah" / "run"),
            "--storage-driver", "vfs",
            *args,
        ]  # fmt: skip

    def run(self, what: str, *args: str) -> str:
        result = subprocess.run(self._argv(*args), capture_output=True, text=True)
        if result.returncode != 0:
            tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
            raise ImageBuildFailed(f"{what} failed:\n{tail}")
        return result.stdout

    def has_image(self, reference: str) -> bool:
        result = subprocess.run(
            self._argv("images", "--quiet", reference), capture_output=True, text=True
        )
        return result.returncode == 0 and bool(result.stdout.strip())

    # -- the base --------------------------------------------------------------------------

    def base_reference(self) -> str:
        key = _digest([BASE_SUITE, *BASE_PACKAGES, *BASE_EXCLUDES, _tool_version("mmdebstrap")])
        return f"localhost/sandboxmesh/base:{BASE_SUITE}-{key}"

    def ensure_base(self) -> str:
        reference = self.base_reference()
        if self.has_image(reference):
            return reference
        log.info("making the base image %s with mmdebstrap (about a minute, once)", reference)
        work = Path(tempfile.mkdtemp(prefix="base-", dir=self._scratch()))
        try:
            rootfs = work / "rootfs.tar"
            argv = [
                "mmdebstrap", "--variant=essential", "--mode=root", "--quiet",
                f"--include={','.join(BASE_PACKAGES)}",
                *(f"--dpkgopt=path-exclude={pattern}" for pattern in BASE_EXCLUDES),
                # apt's lists and caches would only weigh the image down.
                "--customize-hook=rm -rf \"$1\"/var/lib/apt/lists/* \"$1\"/var/cache/apt/*",
                BASE_SUITE, str(rootfs),
            ]  # fmt: skip
            result = subprocess.run(argv, capture_output=True, text=True)
            if result.returncode != 0:
                tail = "\n".join(result.stderr.strip().splitlines()[-15:])
                raise ImageBuildFailed(f"mmdebstrap {BASE_SUITE} failed:\n{tail}")
            container = self.run("buildah from scratch", "from", "scratch").strip()
            try:
                self.run("adding the base's root filesystem", "add", container, str(rootfs), "/")
                self.run(
                    "configuring the base",
                    "config",
                    "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "--env", "LANG=C.UTF-8",
                    container,
                )  # fmt: skip
                self.run("committing the base", "commit", "--quiet", container, reference)
            finally:
                self.run("removing the base's working container", "rm", container)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        self._remove_other_bases(reference)
        return reference

    def _remove_other_bases(self, reference: str) -> None:
        # All images, filtered here: `buildah images NAME` without a tag means NAME:latest
        # and fails ("image not known") where only tagged bases exist.
        listed = self.run("listing bases", "images", "--format", "{{.Name}}:{{.Tag}}")
        repository = reference.rsplit(":", 1)[0]
        for other in listed.split():
            if other.rsplit(":", 1)[0] == repository and other != reference:
                subprocess.run(self._argv("rmi", other), capture_output=True)

    # -- images ----------------------------------------------------------------------------

    def build(
        self,
        reference: str,
        containerfile: Path,
        context: Path,
        base: str | None,
        archive: Path,
    ) -> None:
        """Build `containerfile` over `context` as `reference`; write it to `archive`."""
        build_args = ["--build-arg", f"BASE={base}"] if base else []
        self.run(
            f"building {reference}",
            "bud", "--quiet", "--isolation", "chroot", "--layers", "--pull=never",
            *build_args, "--file", str(containerfile), "--tag", reference, str(context),
        )  # fmt: skip
        archive.parent.mkdir(parents=True, exist_ok=True)
        partial = archive.with_name(archive.name + ".partial")
        partial.unlink(missing_ok=True)
        self.run(
            f"writing {reference} to {archive}",
            "push", "--quiet", reference, f"docker-archive:{partial}:{reference}",
        )  # fmt: skip
        os.replace(partial, archive)  # whole or not at all: the archive is the cache key

    def prune(self) -> None:
        """Remove the storage's untagged images (what earlier builds of a tag left)."""
        subprocess.run(self._argv("rmi", "--prune"), capture_output=True)

    def _scratch(self) -> Path:
        path = self.cache / "buildah" / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path


def _tool_version(tool: str) -> str:
    result = subprocess.run([tool, "--version"], capture_output=True, text=True)
    return result.stdout.strip()


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def tree_digest(*roots: Path) -> str:
    """A digest of the files under `roots`: their relative paths, modes and contents
    (bytecode caches left out: any run of the code writes them)."""
    digest = hashlib.sha256()
    for root in roots:
        paths = (
            [root]
            if root.is_file()
            else sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        )
        for path in paths:
            relative = path.name if path == root else str(path.relative_to(root))
            digest.update(f"{relative}\0{path.stat().st_mode & 0o777}\0".encode())
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()[:12]
