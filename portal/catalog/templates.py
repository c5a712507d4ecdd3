"""Service templates: the declarative file per catalog app, its schema, and loading it loudly."""
import functools
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from portal.catalog.translation import N_, lazily_translated

DNS_LABEL = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_.-]*$"
# The only placeholders a value may hold; user input substituted into them is never re-scanned.
PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_.]*)\s*\}\}")
BUILTIN_PLACEHOLDERS = {"host", "url", "instance", "namespace"}
# What a component's `mail_env` may use besides the above: the instance's mail server (portal.provisioning.mail)
# and the Secret keys the portal fills with its login.
MAIL_PLACEHOLDERS = {"mail.host", "mail.port", "mail.sender", "mail.tls_mode", "mail.implicit_tls",
                     "mail.starttls", "mail.plain"}
MAIL_SECRETS = {"mail_username", "mail_password"}
# Pod Security "restricted" at the version customer namespaces pin (see provisioning.manifests): the one capability
# a container may add, and the sysctls it allows (baseline's list: v1.0, +1.27, +1.29).
RESTRICTED_CAPABILITIES = {"NET_BIND_SERVICE"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
                "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}

# An image reference as Docker parses it: [registry[:port]/]path[:tag][@sha256:digest].
IMAGE_REFERENCE = re.compile(
    r"^(?P<name>(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9._-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$")
# A release tag names a version down to the patch (6.45.0-alpine, 1.121.3, 8.4.10, 6.8.3-php8.3-apache); a tag of
# a major or a major.minor (6-alpine, 8.4, 16-alpine) moves with every release, and so does `latest`.
EXACT_RELEASE = re.compile(r"^v?[0-9]+\.[0-9]+\.[0-9]+(?:[-+._][A-Za-z0-9._-]+)?$")
# Images whose upstream numbers releases major.minor: PostgreSQL since 10 (16.13 is a release, 16 is not).
TWO_PART_RELEASES = {"postgres", "library/postgres", "docker.io/library/postgres"}
TWO_PART_RELEASE = re.compile(r"^[0-9]+\.[0-9]+(?:-[A-Za-z0-9._-]+)?$")


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
    custom_domains: Annotated[int, Field(ge=0, le=20)] = 1

    @property
    def display_name(self):
        """The plan's name in the reader's language (the name itself stays the English the catalog stores)."""
        return lazily_translated(self.name)


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
    pattern_message: Annotated[str, Field(validate_default=True)] = N_("This value has the wrong format.")
    minimum: int | None = None
    maximum: int | None = None
    choices: list[str] | None = None
    # How a boolean lands in an env value (some images treat any non-empty string as true).
    true_value: str = "true"
    false_value: str = "false"

    @field_validator("label", "help", "pattern_message")
    @classmethod
    def _translated_when_read(cls, value):
        # Display texts: each reader sees them in their language, though the template is loaded once per process.
        return lazily_translated(value)

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

    @field_validator("label")
    @classmethod
    def _translated_when_read(cls, value):
        return lazily_translated(value)


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
    """How the component's pod runs: every customer namespace enforces Pod Security "restricted", so a template
    that asks for what it refuses (root, privilege escalation, kept or added capabilities, unsafe sysctls) is
    refused here, at load, rather than as pods the cluster never creates."""
    run_as_user: Annotated[int, Field(ge=1)]
    run_as_group: Annotated[int, Field(ge=0)] | None = None
    fs_group: Annotated[int, Field(ge=0)] | None = None
    run_as_non_root: bool = True
    allow_privilege_escalation: bool = False
    drop_all_capabilities: bool = True
    add_capabilities: list[str] = []
    # Pod-level sysctls (name: value); only those Pod Security allows at the pinned version, which the kubelet
    # also treats as safe (e.g. net.ipv4.ip_unprivileged_port_start since Kubernetes 1.22).
    sysctls: dict[str, str] = {}
    read_only_root_filesystem: bool = True
    # Required when the root filesystem stays writable: why this image cannot run read-only.
    writable_root_reason: str = ""

    @model_validator(mode="after")
    def _restricted(self):
        if not self.run_as_non_root:
            raise ValueError('run_as_non_root: Pod Security "restricted" needs true')
        if self.allow_privilege_escalation:
            raise ValueError('allow_privilege_escalation: Pod Security "restricted" needs false')
        if not self.drop_all_capabilities:
            raise ValueError('drop_all_capabilities: Pod Security "restricted" needs true')
        extra = sorted(set(self.add_capabilities) - RESTRICTED_CAPABILITIES)
        if extra:
            raise ValueError(f'add_capabilities: Pod Security "restricted" allows only NET_BIND_SERVICE, '
                             f'not {", ".join(extra)}')
        unsafe = sorted(set(self.sysctls) - SAFE_SYSCTLS)
        if unsafe:
            raise ValueError(f'sysctls: {", ".join(unsafe)} is not a sysctl Pod Security allows; allowed: '
                             f'{", ".join(sorted(SAFE_SYSCTLS))}')
        if not self.read_only_root_filesystem and not self.writable_root_reason.strip():
            raise ValueError("writable_root_reason: say why the image needs a writable root filesystem")
        if self.read_only_root_filesystem and self.writable_root_reason:
            raise ValueError("writable_root_reason: only for a component with read_only_root_filesystem: false")
        return self


class ScratchSpec(Strict):
    """A sized emptyDir where the image writes outside its data volume (/tmp, run and lock directories)."""
    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=20)]
    mount_path: Annotated[str, Field(pattern=r"^/")]
    size_mb: Annotated[int, Field(ge=1, le=10240)]


class MailPluginSpec(Strict):
    """A file the app loads to send through the instance's mail server (WordPress's must-use plugin), copied into
    `directory` at each start by an init container from a ConfigMap. `source` is relative to the template file;
    `content` is filled from it when the template is loaded."""
    source: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", max_length=200)]
    directory: Annotated[str, Field(pattern=r"^/[A-Za-z0-9_./-]*$", max_length=200)]
    content: str = ""

    @property
    def filename(self) -> str:
        return self.source.rsplit("/", 1)[-1]


class ComponentSpec(Strict):
    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=12)]
    kind: Literal["Deployment", "StatefulSet"] = "Deployment"
    image: Annotated[str, Field(min_length=1, max_length=400)]
    port: Annotated[int, Field(ge=1, le=65535)]
    exposed: bool = False
    args: list[str] = []
    env: list[EnvSpec] = []
    # Set only when the instance has a mail server (the business's relay or the customer's own).
    mail_env: list[EnvSpec] = []
    mail_plugin: MailPluginSpec | None = None
    volumes: list[VolumeSpec] = []
    probes: Probes
    # Shares of the plan's CPU, memory and scratch disk; a plan's resources are split between components.
    cpu_share: Annotated[float, Field(gt=0, le=1)]
    memory_share: Annotated[float, Field(gt=0, le=1)]
    ephemeral_storage_share: Annotated[float, Field(gt=0, le=1)]
    security: SecuritySpec
    scratch: list[ScratchSpec] = []

    @field_validator("image")
    @classmethod
    def _image_pinned(cls, value):
        return image_reference_check(value)

    @model_validator(mode="after")
    def _mounts_distinct(self):
        _unique([*self.volumes, *self.scratch], "name", "volumes and scratch")
        _unique([*self.volumes, *self.scratch], "mount_path", "volumes and scratch")
        return self

    @model_validator(mode="before")
    @classmethod
    def _scratch_follows_memory(cls, data):
        # A component that names no share of scratch disk gets the same share as of memory.
        if isinstance(data, dict) and "ephemeral_storage_share" not in data and "memory_share" in data:
            data = {**data, "ephemeral_storage_share": data["memory_share"]}
        return data

    @property
    def sends_mail(self) -> bool:
        return bool(self.mail_env or self.mail_plugin)


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
            for field, items, extra_known, extra_secrets in (
                    ("env", component.env, set(), set()),
                    ("mail_env", component.mail_env, MAIL_PLACEHOLDERS, MAIL_SECRETS)):
                for j, env in enumerate(items):
                    where = f"components[{i}].{field}[{j}] ({env.name})"
                    if env.secret is not None and env.secret not in secrets | extra_secrets:
                        raise ValueError(f"{where}: secret {env.secret!r} is not defined under secrets")
                    for ref in PLACEHOLDER.findall(env.value or ""):
                        if ref not in known | extra_known:
                            raise ValueError(f"{where}: placeholder {{{{ {ref} }}}} refers to nothing defined")
            clash = sorted({e.name for e in component.env} & {e.name for e in component.mail_env})
            if clash:
                raise ValueError(f"components[{i}]: {', '.join(clash)} in both env and mail_env")
        return self

    @property
    def display_name(self):
        """The app's name in the reader's language; `name`, `description` and `category` stay the English texts
        the catalog copies into the database (translate those where they render: `_(service.description)`)."""
        return lazily_translated(self.name)

    @property
    def display_description(self):
        return lazily_translated(self.description)

    @property
    def display_category(self):
        return lazily_translated(self.category)

    def plan(self, slug: str) -> PlanSpec:
        return next(p for p in self.plans if p.slug == slug)

    @property
    def exposed_component(self) -> ComponentSpec:
        return next(c for c in self.components if c.exposed)


def image_parts(image: str) -> tuple[str, str | None, str | None]:
    """(name, tag, digest) of an image reference; ValueError when it is not one."""
    match = IMAGE_REFERENCE.match(image)
    if not match or len(image) > 400:
        raise ValueError(f"{image!r} is not an image reference (name:tag or name:tag@sha256:<64 hex digits>)")
    return match.group("name"), match.group("tag"), match.group("digest")


def image_reference_check(image: str) -> str:
    """The image, if it names one exact release (a full version tag, with or without its digest)."""
    name, tag, digest = image_parts(image)
    if tag is None:
        if digest:
            raise ValueError(f"{image!r}: keep the release tag beside the digest (name:tag@sha256:...), so staff "
                             f"see the version and `flask catalog-pin` can resolve it again")
        raise ValueError(f"{image!r} has no tag, which means `latest`: pin an exact release such as {name}:1.2.3")
    exact = EXACT_RELEASE.match(tag) or (name in TWO_PART_RELEASES and TWO_PART_RELEASE.match(tag))
    if not exact:
        raise ValueError(f"{image!r}: the tag {tag!r} floats (it moves to each new release); pin an exact release "
                         f"(a full version such as 6.45.0-alpine), optionally with @sha256:<digest>")
    return image


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
    _mail_plugins_read(path, data)
    try:
        template = ServiceTemplate.model_validate(data)
    except ValidationError as exc:
        raise TemplateError(f"{path.name}: {_describe(exc)}") from exc
    if template.slug != path.stem:
        raise TemplateError(f"{path.name}: slug: {template.slug!r} must match the file name {path.stem!r}")
    return template


def _mail_plugins_read(path: Path, data: dict) -> None:
    """Fill each component's mail_plugin.content from its source file beside the template (never outside it)."""
    folder = path.parent.resolve()
    for component in data.get("components") or []:
        plugin = component.get("mail_plugin") if isinstance(component, dict) else None
        if not isinstance(plugin, dict) or not isinstance(plugin.get("source"), str):
            continue
        source = (folder / plugin["source"]).resolve()
        if not source.is_relative_to(folder):
            raise TemplateError(f"{path.name}: mail_plugin.source: {plugin['source']!r} lies outside the folder")
        try:
            plugin["content"] = source.read_text()
        except OSError as exc:
            raise TemplateError(f"{path.name}: mail_plugin.source: cannot read {plugin['source']!r}: {exc}") from exc


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
