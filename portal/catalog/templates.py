"""Service templates: the declarative file per catalog app, its schema, and loading it loudly."""
import functools
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DNS_LABEL = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_.-]*$"
# The only placeholders a value may hold; user input substituted into them is never re-scanned.
PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_.]*)\s*\}\}")
BUILTIN_PLACEHOLDERS = {"host", "url", "instance", "namespace"}


class TemplateError(Exception):
    """A template file that cannot be used; the message names the file and the field."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlanSpec(Strict):
    slug: Annotated[str, Field(pattern=DNS_LABEL, max_length=30)]
    name: Annotated[str, Field(min_length=1, max_length=60)]
    cpu_millicores: Annotated[int, Field(gt=0, le=64000)]
    memory_mb: Annotated[int, Field(gt=0, le=262144)]
    storage_gb: Annotated[int, Field(ge=1, le=4096)]
    price_idr: Annotated[int, Field(ge=0)]
    period_days: Annotated[int, Field(gt=0, le=366)] = 30


class ParameterSpec(Strict):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
    label: Annotated[str, Field(min_length=1, max_length=80)]
    type: Literal["string", "email", "url", "integer", "boolean", "choice", "timezone"]
    default: str | int | bool | None = None
    required: bool = True
    help: str = ""
    min_length: Annotated[int, Field(ge=0)] | None = None
    max_length: Annotated[int, Field(gt=0, le=2000)] = 200
    pattern: str | None = None
    pattern_message: str = "This value has the wrong format."
    minimum: int | None = None
    maximum: int | None = None
    choices: list[str] | None = None
    # How a boolean lands in an env value (some images treat any non-empty string as true).
    true_value: str = "true"
    false_value: str = "false"

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value):
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _choices_for_choice(self):
        if self.type == "choice" and not self.choices:
            raise ValueError("a choice parameter needs choices")
        if self.type != "choice" and self.choices:
            raise ValueError("only a choice parameter has choices")
        return self


class SecretSpec(Strict):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
    length: Annotated[int, Field(ge=8, le=128)] = 32
    alphabet: Literal["alphanumeric", "hex", "urlsafe"] = "alphanumeric"
    label: str = ""
    # Shown to the customer on request (an admin password); internal keys are not.
    customer_visible: bool = False


class EnvSpec(Strict):
    name: Annotated[str, Field(pattern=ENV_NAME, max_length=120)]
    value: str | None = None
    secret: str | None = None

    @model_validator(mode="after")
    def _one_source(self):
        if (self.value is None) == (self.secret is None):
            raise ValueError("give exactly one of value or secret")
        return self


class VolumeSpec(Strict):
    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=20)]
    mount_path: Annotated[str, Field(pattern=r"^/")]
    sub_path: str | None = None
    storage_share: Annotated[float, Field(gt=0, le=1)]


class HttpGet(Strict):
    path: Annotated[str, Field(pattern=r"^/")]
    port: Annotated[int, Field(ge=1, le=65535)]
    headers: dict[str, str] = {}


class Probe(Strict):
    http_get: HttpGet | None = None
    tcp_port: Annotated[int, Field(ge=1, le=65535)] | None = None
    exec: list[str] | None = None
    initial_delay_seconds: Annotated[int, Field(ge=0)] = 10
    period_seconds: Annotated[int, Field(ge=1)] = 10
    timeout_seconds: Annotated[int, Field(ge=1)] = 5
    failure_threshold: Annotated[int, Field(ge=1)] = 3

    @model_validator(mode="after")
    def _one_check(self):
        if sum(x is not None for x in (self.http_get, self.tcp_port, self.exec)) != 1:
            raise ValueError("give exactly one of http_get, tcp_port or exec")
        return self


class Probes(Strict):
    readiness: Probe
    liveness: Probe
    startup: Probe | None = None


class SecuritySpec(Strict):
    run_as_user: int | None = None
    run_as_group: int | None = None
    fs_group: int | None = None
    run_as_non_root: bool = False
    allow_privilege_escalation: bool = False
    drop_all_capabilities: bool = False
    add_capabilities: list[str] = []


class ComponentSpec(Strict):
    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=12)]
    kind: Literal["Deployment", "StatefulSet"] = "Deployment"
    image: Annotated[str, Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9._-]+)?$")]
    port: Annotated[int, Field(ge=1, le=65535)]
    exposed: bool = False
    args: list[str] = []
    env: list[EnvSpec] = []
    volumes: list[VolumeSpec] = []
    probes: Probes
    # Shares of the plan's CPU, memory and scratch disk; a plan's resources are split between components.
    cpu_share: Annotated[float, Field(gt=0, le=1)]
    memory_share: Annotated[float, Field(gt=0, le=1)]
    ephemeral_storage_share: Annotated[float, Field(gt=0, le=1)]
    security: SecuritySpec = SecuritySpec()

    @model_validator(mode="before")
    @classmethod
    def _scratch_follows_memory(cls, data):
        # A component that names no share of scratch disk gets the same share as of memory.
        if isinstance(data, dict) and "ephemeral_storage_share" not in data and "memory_share" in data:
            data = {**data, "ephemeral_storage_share": data["memory_share"]}
        return data


class ServiceTemplate(Strict):
    slug: Annotated[str, Field(pattern=DNS_LABEL, max_length=20)]
    name: Annotated[str, Field(min_length=1, max_length=80)]
    description: Annotated[str, Field(min_length=1, max_length=1000)]
    logo: str = ""
    category: Annotated[str, Field(min_length=1, max_length=40)]
    version: Annotated[str, Field(min_length=1, max_length=40)]
    plans: Annotated[list[PlanSpec], Field(min_length=1)]
    parameters: list[ParameterSpec] = []
    secrets: list[SecretSpec] = []
    components: Annotated[list[ComponentSpec], Field(min_length=1)]

    @model_validator(mode="after")
    def _references_resolve(self):
        _unique(self.plans, "slug", "plans")
        _unique(self.parameters, "name", "parameters")
        _unique(self.secrets, "name", "secrets")
        _unique(self.components, "name", "components")
        if sum(c.exposed for c in self.components) != 1:
            raise ValueError("components: exactly one component must be exposed (the one the URL reaches)")
        for share in ("cpu_share", "memory_share", "ephemeral_storage_share"):
            if sum(getattr(c, share) for c in self.components) > 1.0001:
                raise ValueError(f"components: the {share} values add up to more than 1")
        if sum(v.storage_share for c in self.components for v in c.volumes) > 1.0001:
            raise ValueError("components: the volumes' storage_share values add up to more than 1")
        known = (BUILTIN_PLACEHOLDERS | {f"params.{p.name}" for p in self.parameters}
                 | {f"components.{c.name}.host" for c in self.components})
        secrets = {s.name for s in self.secrets}
        for i, component in enumerate(self.components):
            for j, env in enumerate(component.env):
                where = f"components[{i}].env[{j}] ({env.name})"
                if env.secret is not None and env.secret not in secrets:
                    raise ValueError(f"{where}: secret {env.secret!r} is not defined under secrets")
                for ref in PLACEHOLDER.findall(env.value or ""):
                    if ref not in known:
                        raise ValueError(f"{where}: placeholder {{{{ {ref} }}}} refers to nothing defined")
        return self

    def plan(self, slug: str) -> PlanSpec:
        return next(p for p in self.plans if p.slug == slug)

    @property
    def exposed_component(self) -> ComponentSpec:
        return next(c for c in self.components if c.exposed)


def _unique(items, attribute: str, field: str) -> None:
    seen = set()
    for item in items:
        value = getattr(item, attribute)
        if value in seen:
            raise ValueError(f"{field}: {attribute} {value!r} appears twice")
        seen.add(value)


def _describe(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown field"
        lines.append(f"{where}: {message}")
    return "; ".join(lines)


def template_load(path: Path) -> ServiceTemplate:
    """Read and check one template file; TemplateError names the file and the field at fault."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"{path.name}: cannot be read as YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise TemplateError(f"{path.name}: the top level must be a mapping of fields")
    try:
        template = ServiceTemplate.model_validate(data)
    except ValidationError as exc:
        raise TemplateError(f"{path.name}: {_describe(exc)}") from exc
    if template.slug != path.stem:
        raise TemplateError(f"{path.name}: slug: {template.slug!r} must match the file name {path.stem!r}")
    return template


@functools.lru_cache(maxsize=8)
def templates_load(directory: str) -> dict[str, ServiceTemplate]:
    """Every template in the folder, by slug (cached: the files are read once per process)."""
    folder = Path(directory)
    if not folder.is_dir():
        raise TemplateError(f"{directory}: the service-templates folder does not exist")
    return {path.stem: template_load(path) for path in sorted(folder.glob("*.yaml"))}


def templates_check(directory: str) -> list[tuple[str, ServiceTemplate | None, str | None]]:
    """Each template file read afresh from disk, with its template or the error found in it."""
    results = []
    for path in sorted(Path(directory).glob("*.yaml")):
        try:
            results.append((path.name, template_load(path), None))
        except TemplateError as error:
            results.append((path.name, None, str(error)))
    return results
