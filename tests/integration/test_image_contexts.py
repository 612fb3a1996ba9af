"""`sandboxmesh dev images context`: the build contexts the release workflow hands to
`docker build`, checked against what each Containerfile copies."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sandboxmesh.dev.cluster.images import catalog

ROOT = Path(__file__).resolve().parents[2]


def _context(name: str, directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandboxmesh", "dev", "images", "context", name, str(directory)],
        capture_output=True, text=True, timeout=300, env=dict(os.environ),
    )  # fmt: skip


def _copied(name: str) -> list[str]:
    containerfile = (ROOT / "deploy" / "images" / name / "Containerfile").read_text()
    return re.findall(r"^COPY\s+(\S+)\s+\S+$", containerfile, flags=re.MULTILINE)


@pytest.mark.parametrize("name", sorted(catalog.PUBLISHED))
def test_each_published_context_holds_what_its_containerfile_copies(
    name: str, tmp_path: Path
) -> None:
    result = _context(name, tmp_path / name)
    assert result.returncode == 0, result.stderr
    sources = _copied(name)
    assert sources, f"deploy/images/{name}/Containerfile copies nothing"
    for source in sources:
        assert (tmp_path / name / source).exists(), f"{name}: {source} missing"


def test_an_unknown_image_or_a_used_directory_is_refused_in_one_line(tmp_path: Path) -> None:
    unknown = _context("nope", tmp_path / "a")
    assert unknown.returncode != 0
    assert "no image 'nope': choose one of" in unknown.stderr
    assert not (tmp_path / "a").exists()

    used = tmp_path / "used"
    used.mkdir()
    (used / "keep").write_text("mine")
    refused = _context("demo-app", used)
    assert refused.returncode != 0
    assert "is not empty" in refused.stderr
    assert sorted(p.name for p in used.iterdir()) == ["keep"]
