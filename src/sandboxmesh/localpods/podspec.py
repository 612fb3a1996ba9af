"""What to run for a Pod: one local process per container, its environment and its ports.

Pure: Pod and Service objects (the JSON dicts of the API) in, plans out.

How a container maps to a process:

- the image names a `Program` (`programs.Programs`); none is the waiting reason
  `ErrImageNeverPull`, as a kubelet that may not pull reports it;
- the environment is, in order (later wins): the Program's own variables, the Service links
  of the Pod's namespace (`{SVC}_SERVICE_HOST`, `{SVC}_SERVICE_PORT`,
  `{SVC}_SERVICE_PORT_{NAME}`, as a kubelet injects them unless `enableServiceLinks` is
  false, pointing where this machine reaches each Service), the container's `env`, then
  what the local node adds: `HOSTNAME` (the Pod's name), `SANDBOXMESH_IMAGE`, and the ports;
- `env` values are literal or `fieldRef`s of the Pod's name, namespace, uid or node; other
  sources (Secrets, ConfigMaps, `envFrom`) are the waiting reason `CreateContainerConfigError`;
- every declared container port gets a free local port: the first one is `PORT`, each named
  one `PORT_{NAME}` too. Programs listen where these say, not on the declared number;
- readiness is the container's `readinessProbe` (`httpGet` path, or `tcpSocket`) against the
  local port of the probed container port; without one, a TCP connection to the first port,
  or, without ports, the process running.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sandboxmesh.localpods.programs import Program, Programs

Json = dict[str, Any]
#: Where this machine reaches Service `namespace/name` port `port`, if anywhere.
Reach = Callable[[str, str, int], tuple[str, int] | None]

NO_PROGRAM = "ErrImageNeverPull"
CONFIG_ERROR = "CreateContainerConfigError"
_FIELD_REFS = {
    "metadata.name": ("metadata", "name"),
    "metadata.namespace": ("metadata", "namespace"),
    "metadata.uid": ("metadata", "uid"),
    "spec.nodeName": ("spec", "nodeName"),
}


@dataclass(frozen=True)
class PortPlan:
    container_port: int
    name: str | None = None


@dataclass(frozen=True)
class ProbePlan:
    """Probe `container_port` (None: ready once running) with `http_path` (None: TCP)."""

    container_port: int | None
    http_path: str | None = None


@dataclass(frozen=True)
class ContainerPlan:
    name: str
    image: str
    program: Program | None
    env: tuple[tuple[str, str], ...]
    ports: tuple[PortPlan, ...]
    probe: ProbePlan
    #: (reason, message) when the container cannot run here.
    problem: tuple[str, str] | None = None


def env_name(name: str) -> str:
    """A Service or port name as the variable part of a name (`my-svc` -> `MY_SVC`)."""
    return name.upper().replace("-", "_").replace(".", "_")


def _field(pod: Json, path: str) -> str | None:
    where = _FIELD_REFS.get(path)
    if where is None:
        return None
    value = pod.get(where[0], {}).get(where[1])
    return None if value is None else str(value)


def _env(pod: Json, container: Json) -> tuple[tuple[tuple[str, str], ...], str | None]:
    """The container's variables, or the problem with the first one that cannot be set."""
    if container.get("envFrom"):
        return (), "envFrom is not supported by a local node"
    values = []
    for entry in container.get("env") or []:
        name = entry["name"]
        source = entry.get("valueFrom")
        if source is None:
            values.append((name, str(entry.get("value", ""))))
            continue
        path = (source.get("fieldRef") or {}).get("fieldPath", "")
        value = _field(pod, path)
        if value is None:
            supported = ", ".join(sorted(_FIELD_REFS))
            return (), f"env {name}: a local node sets literal values and fieldRefs of {supported}"
        values.append((name, value))
    return tuple(values), None


def _probe(container: Json, ports: tuple[PortPlan, ...]) -> ProbePlan:
    probe = container.get("readinessProbe") or {}
    action = probe.get("httpGet") or probe.get("tcpSocket")
    first = ports[0].container_port if ports else None
    if action is None:
        return ProbePlan(first)
    wanted = action.get("port")
    port = next(
        (p.container_port for p in ports if wanted in (p.name, p.container_port)),
        first,
    )
    path = None
    if "httpGet" in probe:
        path = str(probe["httpGet"].get("path") or "/")
    return ProbePlan(port, path)


def container_plans(pod: Json, programs: Programs) -> list[ContainerPlan]:
    """One plan per container of the Pod (init containers are not run)."""
    plans = []
    for container in pod.get("spec", {}).get("containers") or []:
        ports = tuple(
            PortPlan(int(p["containerPort"]), p.get("name"))
            for p in container.get("ports") or []
            if p.get("protocol", "TCP") == "TCP"
        )
        image = str(container.get("image", ""))
        program = programs.for_image(image)
        env, env_problem = _env(pod, container)
        problem = None
        if program is None:
            problem = (NO_PROGRAM, f"no local program stands for image {image!r}")
        elif env_problem is not None:
            problem = (CONFIG_ERROR, env_problem)
        plans.append(
            ContainerPlan(
                name=container["name"],
                image=image,
                program=program,
                env=env,
                ports=ports,
                probe=_probe(container, ports),
                problem=problem,
            )
        )
    return plans


def service_links(namespace: str, services: Iterable[Json], reach: Reach) -> dict[str, str]:
    """The `{SVC}_SERVICE_*` variables of the namespace's Services reachable from here."""
    links: dict[str, str] = {}
    for service in sorted(services, key=lambda s: s["metadata"]["name"]):
        if service["metadata"].get("namespace") != namespace:
            continue
        name = service["metadata"]["name"]
        prefix = env_name(name)
        for port in service.get("spec", {}).get("ports") or []:
            address = reach(namespace, name, int(port["port"]))
            if address is None:
                continue
            if f"{prefix}_SERVICE_HOST" not in links:
                links[f"{prefix}_SERVICE_HOST"] = address[0]
                links[f"{prefix}_SERVICE_PORT"] = str(address[1])
            if port.get("name"):
                links[f"{prefix}_SERVICE_PORT_{env_name(port['name'])}"] = str(address[1])
    return links


def process_env(
    pod: Json,
    plan: ContainerPlan,
    *,
    base: Mapping[str, str],
    links: Mapping[str, str],
    local_ports: Mapping[int, int],
) -> dict[str, str]:
    """The environment of the container's process (see the module's docstring for the order)."""
    env = dict(base)
    if plan.program is not None:
        env.update(plan.program.env)
    if pod.get("spec", {}).get("enableServiceLinks", True):
        env.update(links)
    env.update(plan.env)
    env["HOSTNAME"] = pod["metadata"]["name"]
    env["SANDBOXMESH_IMAGE"] = plan.image
    for index, port in enumerate(plan.ports):
        local = str(local_ports[port.container_port])
        if index == 0:
            env["PORT"] = local
        if port.name:
            env[f"PORT_{env_name(port.name)}"] = local
    return env
