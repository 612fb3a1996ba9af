"""The versions the Python code expects are the ones hack/gobuild builds."""

from __future__ import annotations

import re
from pathlib import Path

from sandboxmesh.dev.cluster import binaries

GOBUILD = Path(__file__).resolve().parents[2] / "hack" / "gobuild"


def _required(component: str, module: str) -> str:
    text = (GOBUILD / component / "go.mod").read_text()
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)} (v\S+)$", text, re.MULTILINE)
    assert match, f"{module} not required in hack/gobuild/{component}/go.mod"
    return match.group(1)


def test_versions_match_the_wrapper_modules() -> None:
    assert _required("k8s", "k8s.io/kubernetes") == binaries.KUBERNETES_VERSION
    assert _required("etcd", "go.etcd.io/etcd/server/v3") == binaries.ETCD_VERSION
    assert _required("kwok", "sigs.k8s.io/kwok") == binaries.KWOK_VERSION
    assert _required("helm", "helm.sh/helm/v3") == binaries.HELM_VERSION
    assert _required("coredns", "github.com/coredns/coredns") == binaries.COREDNS_VERSION
    assert _required("critools", "sigs.k8s.io/cri-tools") == binaries.CRI_TOOLS_VERSION


def test_the_pause_version_is_the_one_the_build_script_builds() -> None:
    script = (GOBUILD.parent / "build-bins.sh").read_text()
    assert f"\npause={binaries.PAUSE_VERSION}\n" in script


def test_every_staging_module_is_replaced_at_the_matching_version() -> None:
    text = (GOBUILD / "k8s" / "go.mod").read_text()
    staging = "v0." + binaries.KUBERNETES_VERSION.removeprefix("v1.")
    replaces = re.findall(r"^\s*(k8s\.io/\S+) => (k8s\.io/\S+) (v\S+)$", text, re.MULTILINE)
    assert len(replaces) >= 30
    assert all(src == dst and version == staging for src, dst, version in replaces)
