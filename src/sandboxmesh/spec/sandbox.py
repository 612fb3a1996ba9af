"""The sandbox spec users write (DESIGN.md §2): the single source for the API and the CRD."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, field_validator, model_validator

from sandboxmesh.spec import names
from sandboxmesh.spec.model import SpecModel
from sandboxmesh.spec.preview import Endpoint

LabelKey = Annotated[str, Field(min_length=1, max_length=63, pattern=names.LABEL_KEY_PATTERN)]
LabelValue = Annotated[str, Field(max_length=63, pattern=names.LABEL_VALUE_PATTERN)]

MAX_FORKS = 20
MAX_CUSTOMIZATIONS = 50
MAX_ENDPOINTS = 20
#: The longest TTL a sandbox may have. Its expiry is a date the stores and the CR must hold
#: (a TTL of millions of days is past year 9999), and a preview environment that should
#: outlive a year has no TTL at all.
MAX_TTL_DAYS = 365
MIN_TTL_SECONDS = 60


class ForkRef(SpecModel):
    """The baseline workload a fork copies."""

    kind: names.KindName = "Deployment"
    namespace: names.DnsLabel
    name: names.DnsSubdomain

    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace, self.name)

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


class ImageCustomization(SpecModel):
    #: May be left out when the workload's Pod has exactly one container.
    container: names.DnsLabel | None = None
    image: str = Field(min_length=1, max_length=512, pattern=r"^\S+$")


class EnvOperation(StrEnum):
    UPSERT = "upsert"
    DELETE = "delete"


class EnvCustomization(SpecModel):
    #: May be left out when the workload's Pod has exactly one container.
    container: names.DnsLabel | None = None
    name: names.EnvName
    value: str | None = Field(default=None, max_length=32768)
    operation: EnvOperation = EnvOperation.UPSERT

    @model_validator(mode="after")
    def _value_matches_operation(self) -> Self:
        if self.operation is EnvOperation.UPSERT and self.value is None:
            raise ValueError("an upsert needs a value")
        if self.operation is EnvOperation.DELETE and self.value is not None:
            raise ValueError("a delete takes no value")
        return self


class Customizations(SpecModel):
    images: list[ImageCustomization] = Field(default_factory=list, max_length=MAX_CUSTOMIZATIONS)
    env: list[EnvCustomization] = Field(default_factory=list, max_length=MAX_CUSTOMIZATIONS)


class Fork(SpecModel):
    fork_of: ForkRef
    customizations: Customizations = Field(default_factory=Customizations)


class TtlOffset(StrEnum):
    CREATED_AT = "createdAt"
    UPDATED_AT = "updatedAt"


class Ttl(SpecModel):
    duration: names.Duration = Field(
        description=f"How long the sandbox lives: at least 1m, at most {MAX_TTL_DAYS}d."
    )
    offset_from: TtlOffset = TtlOffset.CREATED_AT

    @field_validator("duration", mode="after")
    @classmethod
    def _within_bounds(cls, duration: str) -> str:
        seconds = names.duration_seconds(duration)
        if seconds < MIN_TTL_SECONDS:
            raise ValueError("a ttl must be at least 1m")
        if seconds > MAX_TTL_DAYS * 86400:
            raise ValueError(f"a ttl must be at most {MAX_TTL_DAYS}d")
        return duration

    @property
    def seconds(self) -> int:
        return names.duration_seconds(self.duration)


class SandboxSpec(SpecModel):
    """What a user asks for; the control plane stores it as intent."""

    cluster: names.DnsLabel
    team: names.DnsLabel | None = None
    description: str = Field(default="", max_length=1024)
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=64)
    ttl: Ttl | None = None
    forks: list[Fork] = Field(min_length=1, max_length=MAX_FORKS)
    #: The entry Services that get preview URLs (spec/preview.py); when left out, the
    #: baseline Services of the forked workloads, each on its first port.
    endpoints: list[Endpoint] | None = Field(default=None, max_length=MAX_ENDPOINTS)

    @model_validator(mode="after")
    def _unique_endpoint_names(self) -> Self:
        seen: set[str] = set()
        for endpoint in self.endpoints or []:
            if endpoint.name in seen:
                raise ValueError(f"endpoint name {endpoint.name} appears more than once")
            seen.add(endpoint.name)
        return self

    @model_validator(mode="after")
    def _one_fork_per_baseline(self) -> Self:
        seen: set[tuple[str, str, str]] = set()
        for fork in self.forks:
            if fork.fork_of.key() in seen:
                raise ValueError(f"baseline {fork.fork_of} appears in more than one fork")
            seen.add(fork.fork_of.key())
        return self


class SandboxManifest(SpecModel):
    """The document users write in YAML or JSON: a name and a spec."""

    name: names.SandboxName
    spec: SandboxSpec
