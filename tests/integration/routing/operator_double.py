"""The test plays the operator: Sandbox objects, fork Services, and status through /status."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from lightkube import ApiError, Client
from lightkube.models.core_v1 import ServicePort, ServiceSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Service
from lightkube.types import PatchType

from sandboxmesh.kube import Sandbox as SandboxResource
from sandboxmesh.spec import (
    ForkRef,
    ForkStatus,
    ObjectRef,
    Phase,
    Reason,
    SandboxStatus,
    conditions,
)
from sandboxmesh.spec.status import ConditionType


def apply_service(client: Client, namespace: str, name: str, selector: dict[str, str]) -> None:
    client.apply(
        Service(
            metadata=ObjectMeta(name=name, namespace=namespace),
            spec=ServiceSpec(selector=selector, ports=[ServicePort(name="http", port=80)]),
        ),
        field_manager="routing-tests",
    )


@dataclass
class OperatorDouble:
    """Creates what the operator would, and writes the status it would write."""

    client: Client
    namespace: str
    created: list[str] = field(default_factory=list)

    def create_sandbox(
        self, name: str, key: str, baselines: list[str], labels: dict[str, str] | None = None
    ) -> None:
        forks = [
            {"forkOf": {"kind": "Deployment", "namespace": self.namespace, "name": b}}
            for b in baselines
        ]
        self.client.create(
            SandboxResource(
                metadata=ObjectMeta(name=name),
                spec={
                    "cluster": "local",
                    "routingKey": key,
                    "forks": forks,
                    "labels": labels or {},
                },
            )
        )
        self.created.append(name)
        for baseline in baselines:
            apply_service(
                self.client,
                self.namespace,
                f"{baseline}-{name}",
                {"app": baseline, "sandboxmesh.io/sandbox": name},
            )

    def write_status(
        self, name: str, key: str, ready_forks: dict[str, bool], phase: Phase | None = None
    ) -> None:
        """Status as the operator writes it: per baseline, its fork Deployment and Service."""
        all_ready = all(ready_forks.values())
        phase = phase or (Phase.READY if all_ready else Phase.PROVISIONING)
        now = datetime.now(UTC)
        marks = (
            conditions.mark_true([], ConditionType.READY, Reason.READY, now=now)
            if phase is Phase.READY
            else conditions.mark_false([], ConditionType.READY, Reason.FORKS_PROGRESSING, now=now)
        )
        status = SandboxStatus(
            phase=phase,
            ready=phase is Phase.READY,
            reason=Reason.READY if phase is Phase.READY else Reason.FORKS_PROGRESSING,
            routing_key=key,
            conditions=marks,
            forks=[
                ForkStatus(
                    fork_of=ForkRef(kind="Deployment", namespace=self.namespace, name=baseline),
                    objects=[
                        ObjectRef(
                            api_version="apps/v1",
                            kind="Deployment",
                            namespace=self.namespace,
                            name=f"{baseline}-{name}",
                            baseline=baseline,
                        ),
                        ObjectRef(
                            api_version="v1",
                            kind="Service",
                            namespace=self.namespace,
                            name=f"{baseline}-{name}",
                            baseline=baseline,
                        ),
                    ],
                    ready_replicas=1 if ready else 0,
                    ready=ready,
                )
                for baseline, ready in ready_forks.items()
            ],
        )
        self.client.patch(
            SandboxResource.Status,
            name,
            {"status": status.model_dump(by_alias=True, mode="json", exclude_none=True)},
            patch_type=PatchType.MERGE,
        )

    def delete_sandbox(self, name: str) -> None:
        try:
            self.client.delete(SandboxResource, name)
        except ApiError as error:
            if error.status.code != 404:
                raise

    def cleanup(self) -> None:
        for name in self.created:
            self.delete_sandbox(name)
