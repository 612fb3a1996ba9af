"""The project's images: their Containerfiles (deploy/images/*), contexts and tags.

Tags follow the package version and the charts' defaults name the same references, so what
`sandboxmesh dev images build` loads is what `helm install` runs (imagePullPolicy
IfNotPresent). The pause image is the real node's own (containerd's sandbox image).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sandboxmesh import __version__
from sandboxmesh.dev.cluster.binaries import Binaries, cache_root
from sandboxmesh.dev.cluster.images.buildah import Buildah, ImageBuildFailed, tree_digest
from sandboxmesh.dev.cluster.node.configs import PAUSE_IMAGE
from sandboxmesh.dev.envoy_binary import EnvoyMissing, envoy_binary

log = logging.getLogger(__name__)

REGISTRY = "ghcr.io/sandboxmesh"
SANDBOXMESH_IMAGE = f"{REGISTRY}/sandboxmesh:{__version__}"
#: The route server's default router image (routing.core.routers.RouterSettings; a test checks).
ROUTER_IMAGE = f"{REGISTRY}/router:{__version__}"
DEMO_APP_IMAGE = f"{REGISTRY}/demo-app:{__version__}"
#: The interpreter and C library the images' Python runs on (Debian bookworm's).
TARGET_PYTHON = "3.11"
TARGET_PLATFORM = "x86_64-manylinux_2_36"


class CheckoutMissing(RuntimeError):
    """`dev images build` needs the repository's deploy/images and lock file."""


def repository_root() -> Path:
    root = Path(__file__).resolve().parents[5]
    if not (root / "deploy" / "images").is_dir() or not (root / "uv.lock").is_file():
        raise CheckoutMissing(
            f"no deploy/images or uv.lock under {root}: building images needs a checkout "
            "of SandboxMesh (an installed package carries no Containerfiles)"
        )
    return root


@dataclass(frozen=True)
class ImageSpec:
    name: str
    reference: str
    #: Fills the build context directory (empty when called).
    fill_context: Callable[[Path, Builder], None]
    #: Whether the Containerfile takes the Debian base as its BASE argument.
    on_base: bool = True
    #: What the context is made from, when the context itself varies from build to build
    #: (a wheel installed from a temporary path records it): the key is their digest then,
    #: and a cached image skips making the context at all.
    inputs: Callable[[Builder], list[Path]] | None = None


@dataclass
class Builder:
    cache: Path
    root: Path
    binaries: Binaries | None = None

    @property
    def buildah(self) -> Buildah:
        return Buildah(self.cache)

    def archive_dir(self) -> Path:
        return self.cache / "images" / "archives"

    def build(self, spec: ImageSpec) -> Path:
        """The image's archive, built when no archive of the same inputs exists."""
        containerfile = self.root / "deploy" / "images" / spec.name / "Containerfile"
        base = self.buildah.base_reference() if spec.on_base else ""
        tag = spec.reference.rsplit(":", 1)[1]

        def archive_for(key: str) -> Path:
            return self.archive_dir() / f"{spec.name}-{tag}-{base[-12:]}{key}.tar"

        if spec.inputs is not None:
            archive = archive_for(tree_digest(containerfile, *spec.inputs(self)))
            if archive.exists():
                log.info("%s: already built (%s)", spec.reference, archive.name)
                return archive
        contexts = self.cache / "images" / "contexts"
        contexts.mkdir(parents=True, exist_ok=True)
        context = Path(tempfile.mkdtemp(prefix=f"{spec.name}-", dir=contexts))
        try:
            spec.fill_context(context, self)
            if spec.inputs is None:
                archive = archive_for(tree_digest(containerfile, context))
                if archive.exists():
                    log.info("%s: already built (%s)", spec.reference, archive.name)
                    return archive
            if spec.on_base:
                self.buildah.ensure_base()
            self.buildah.build(spec.reference, containerfile, context, base or None, archive)
            self._prune(spec, keep=archive)
            return archive
        finally:
            shutil.rmtree(context, ignore_errors=True)

    def context(self, spec: ImageSpec, directory: Path) -> None:
        """Fill `directory` (new or empty) with the image's build context, for a build
        elsewhere (`docker build -f deploy/images/NAME/Containerfile DIRECTORY`)."""
        directory.mkdir(parents=True, exist_ok=True)
        if any(directory.iterdir()):
            raise ImageBuildFailed(f"{directory} is not empty: give a new or empty directory")
        spec.fill_context(directory, self)

    def _prune(self, spec: ImageSpec, keep: Path) -> None:
        """Every source change makes a new archive of a few hundred MiB: keep the newest
        two of an image, and no untagged image in buildah's storage."""
        older = sorted(
            (p for p in self.archive_dir().glob(f"{spec.name}-*.tar") if p != keep),
            key=lambda p: p.stat().st_mtime,
        )
        for stale in older[:-1]:
            stale.unlink(missing_ok=True)
        self.buildah.prune()

    # -- what goes into contexts -----------------------------------------------------------

    def uv(self) -> str:
        found = os.environ.get("UV") or shutil.which("uv")
        if found:
            return found
        candidates = sorted((self.cache / "tools").glob("uv-*/bin/uv"))
        if not candidates:
            raise ImageBuildFailed("no uv: run `make venv` (it installs uv under the cache)")
        return str(candidates[-1])

    def run(self, what: str, argv: list[str], cwd: Path | None = None) -> None:
        result = subprocess.run(argv, capture_output=True, text=True, cwd=cwd)
        if result.returncode != 0:
            tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
            raise ImageBuildFailed(f"{what} failed:\n{tail}")

    def locked_dependencies(self) -> Path:
        """The lock file's runtime dependencies installed for the images' Python, once per
        lock file (a directory under the cache, keyed by its digest)."""
        lock = self.root / "uv.lock"
        key = tree_digest(lock, self.root / "pyproject.toml")
        target = self.cache / "images" / f"deps-{key}"
        if (target / ".complete").exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=".deps-", dir=target.parent))
        try:
            requirements = partial / "requirements.txt"
            uv = self.uv()
            self.run(
                "uv export",
                [uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--no-header",
                 "--format", "requirements-txt", "--output-file", str(requirements)],
                cwd=self.root,
            )  # fmt: skip
            site = partial / "site"
            self.run(
                "installing the dependencies for the image",
                [uv, "pip", "install", "--quiet", "--target", str(site),
                 "--python-version", TARGET_PYTHON, "--python-platform", TARGET_PLATFORM,
                 "--only-binary", ":all:", "--no-deps", "--require-hashes",
                 "--requirements", str(requirements)],
            )  # fmt: skip
            _compile(site)
            (partial / ".complete").touch()
            shutil.rmtree(target, ignore_errors=True)
            partial.rename(target)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return target


def _compile(directory: Path) -> None:
    # Unchecked-hash bytecode: valid whatever the files' times become in a layer, and the
    # Pods' read-only root filesystem never needs a .pyc written.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j0",
         "--invalidation-mode", "unchecked-hash", str(directory)],
        check=False, capture_output=True,
    )  # fmt: skip


def _link_or_copy(source: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def _sandboxmesh_context(context: Path, builder: Builder) -> None:
    deps = builder.locked_dependencies() / "site"
    # Hard links: the dependency tree is a few hundred MiB and identical from build to build.
    subprocess.run(["cp", "-al", str(deps), str(context / "deps")], check=True)
    with tempfile.TemporaryDirectory(dir=context.parent) as wheels:
        uv = builder.uv()
        builder.run(
            "building the sandboxmesh wheel",
            [uv, "build", "--quiet", "--wheel", "--out-dir", wheels],
            cwd=builder.root,
        )
        (wheel,) = Path(wheels).glob("sandboxmesh-*.whl")
        builder.run(
            "installing the sandboxmesh wheel for the image",
            [uv, "pip", "install", "--quiet", "--target", str(context / "app"),
             "--python-version", TARGET_PYTHON, "--python-platform", TARGET_PLATFORM,
             "--no-deps", str(wheel)],
        )  # fmt: skip
    shutil.rmtree(context / "app" / "bin", ignore_errors=True)  # console script of the host
    _compile(context / "app")


def _router_context(context: Path, builder: Builder) -> None:
    try:
        envoy = envoy_binary()
    except EnvoyMissing as error:
        raise ImageBuildFailed(str(error)) from error
    _link_or_copy(envoy, context / "bin" / "envoy")


def _demo_app_context(context: Path, builder: Builder) -> None:
    shutil.copy2(
        builder.root / "src" / "sandboxmesh" / "dev" / "demo" / "app.py", context / "app.py"
    )


def _pause_context(context: Path, builder: Builder) -> None:
    binaries = builder.binaries or Binaries.locate()
    _link_or_copy(binaries.pause, context / "pause")


PAUSE = ImageSpec("pause", PAUSE_IMAGE, _pause_context, on_base=False)
IMAGES = (
    ImageSpec(
        "sandboxmesh",
        SANDBOXMESH_IMAGE,
        _sandboxmesh_context,
        inputs=lambda b: [b.root / "uv.lock", b.root / "pyproject.toml", b.root / "src"],
    ),
    ImageSpec("router", ROUTER_IMAGE, _router_context),
    ImageSpec("demo-app", DEMO_APP_IMAGE, _demo_app_context),
)


#: What the release workflow publishes; the pause image is the dev node's own.
PUBLISHED = {spec.name: spec for spec in IMAGES}


def builder(binaries: Binaries | None = None) -> Builder:
    return Builder(cache_root(), repository_root(), binaries)


def pause_archive(binaries: Binaries | None = None) -> Path:
    """The pause image's archive (built in seconds the first time, then found)."""
    return builder(binaries).build(PAUSE)
