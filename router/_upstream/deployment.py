"""Deployment: which litellm model string serves each route, and which credentials it needs.

This is configuration, not policy: the catalog says where a request may go, the deployment
says how to reach it. Loaded from ``config/routes.yaml`` (see that file for the format),
with the operator's overrides from settings applied on top.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from router._errors import ConfigError, installed
from router._upstream.providers import PROVIDERS, can_take_lean

# libyaml's loader where PyYAML was built with it (the wheels are): same safe subset, faster.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# The start of a reason that names the environment variables the operator has not set: the
# library's caller is the operator and reads it; the proxy keeps it in the operator's log.
NO_CREDENTIALS: Final = "no credentials: set "
NOT_DEPLOYED: Final = "no litellm model string for this route in the deployment"
NOT_INSTALLED: Final = "not installed here: "
OPERATOR_FACTS: Final = (NO_CREDENTIALS, NOT_DEPLOYED, NOT_INSTALLED)
# litellm prefixes whose requests are signed by a package of an extra (module, extra).
_SIGNED_BY: Final = {"bedrock": ("boto3", "bedrock"), "vertex_ai": ("google.auth", "vertex")}


@dataclass(frozen=True, slots=True)
class Target:
    """How one route is reached: the litellm model string, its own fixed params if set, and
    its forwarding path if set (``lean`` or ``litellm``; unset: lean where it can serve)."""

    model: str
    params: Mapping[str, Any] | None = None
    path: Literal["lean", "litellm"] | None = None
    # litellm's provider prefix of the model string (``openai``, ``bedrock``, …): made once
    prefix: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix", self.model.split("/", 1)[0])


class _TargetDoc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    model: str = Field(pattern=r"^[a-z_]+/.+")
    params: dict[str, Any] | None = None
    path: Literal["lean", "litellm"] | None = None


# A provider's public API host: a DNS name whose labels may be ``*`` (any one label:
# ``bedrock-runtime.*.amazonaws.com``) or start with ``*-`` (``*-aiplatform.googleapis.com``).
HOST_PATTERN: Final = r"^((\*|\*-[a-z0-9-]+|[a-z0-9]([a-z0-9-]*[a-z0-9])?)\.)+[a-z]{2,}$"


class _DeploymentDoc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    reaches: dict[str, list[str]] = Field(default_factory=dict)
    hosts: dict[str, list[Annotated[str, Field(pattern=HOST_PATTERN)]]] = Field(
        default_factory=dict
    )
    credentials: dict[str, list[list[str]]] = Field(default_factory=dict)
    routes: dict[str, dict[str, str | _TargetDoc]] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Deployment:
    """Targets keyed by route key (``model-slug/provider-slug``) and credentials by litellm prefix."""

    targets: Mapping[str, Target]
    credentials: Mapping[str, tuple[tuple[str, ...], ...]]
    reaches: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    # provider slug -> the public API hosts its traffic goes to (strict mode refuses them)
    hosts: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        for key, target in self.targets.items():
            self._check_reaches(key, target)
            self._check_path(key, target)
        unknown = sorted(set(self.hosts) - set(self.reaches))
        if unknown:
            raise ConfigError(
                f"hosts: {', '.join(map(repr, unknown))}: not a provider under 'reaches'; "
                "declare hosts for the providers the deployment reaches"
            )

    def _check_reaches(self, key: str, target: Target) -> None:
        """A model string must reach its route's own provider: else ConfigError, at load."""
        provider = key.rpartition("/")[2]
        prefixes = self.reaches.get(provider)
        if prefixes is None:
            raise ConfigError(
                f"route {key}: no litellm prefix is declared to reach provider {provider!r}; "
                f"add it under 'reaches' in the deployment file"
            )
        if target.prefix not in prefixes:
            raise ConfigError(
                f"route {key}: model string {target.model!r} would send {provider!r}'s traffic "
                f"to litellm's {target.prefix!r}; a {provider} route needs a model string "
                f"starting with {' or '.join(f'{p}/' for p in sorted(prefixes))}"
            )

    @staticmethod
    def _check_path(key: str, target: Target) -> None:
        if target.path == "lean" and not can_take_lean(target):
            raise ConfigError(
                f"route {key}: path 'lean' cannot serve {target.model!r}: the lean path speaks "
                f"OpenAI's chat format to {', '.join(sorted(PROVIDERS))} (not OpenAI's "
                "Responses-API models), OpenAI's Responses API to those models on openai, and "
                "Anthropic's Messages API to anthropic; remove 'path' or set it to 'litellm'"
            )

    def target(self, route_key: str) -> Target | None:
        return self.targets.get(route_key)

    def strings(self) -> dict[str, tuple[str, ...]]:
        """Each litellm model string of the deployment, and the route keys it serves."""
        out: dict[str, tuple[str, ...]] = {}
        for key, target in self.targets.items():
            out[target.model] = (*out.get(target.model, ()), key)
        return out

    def missing_credentials(self, target: Target, environ: Mapping[str, str]) -> str | None:
        """None when litellm will find credentials for this target; else what to set."""
        signer = _SIGNED_BY.get(target.prefix)
        if signer and not installed(signer[0]):
            return f"{NOT_INSTALLED}pip install 'policy-router[{signer[1]}]'"
        options = self.credentials.get(target.prefix)
        if not options:
            return None
        if any(all(environ.get(name) for name in option) for option in options):
            return None
        wanted = " or ".join(" and ".join(option) for option in options)
        return f"{NO_CREDENTIALS}{wanted}"

    def with_overrides(self, models: Mapping[str, str]) -> Deployment:
        """Apply ``{"model-slug/provider-slug": "litellm/model-string"}`` overrides from settings."""
        targets = dict(self.targets)
        for key, model in models.items():
            if key.count("/") != 1 or "/" not in model:
                raise ConfigError(
                    f"route model override {key!r}: {model!r}: expected "
                    "'model-slug/provider-slug' mapped to a litellm model string like 'openai/gpt-4.1'"
                )
            targets[key] = Target(model)
        return Deployment(MappingProxyType(targets), self.credentials, self.reaches, self.hosts)


def load_deployment(path: str | Path) -> Deployment:
    """Read a deployment file; raise ConfigError naming the file and place on any problem."""
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER) or {}  # noqa: S506
        doc = _DeploymentDoc.model_validate(raw)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: is not valid YAML ({exc})") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        place = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {place}: {first['msg']}") from exc
    targets: dict[str, Target] = {}
    for model, by_provider in doc.routes.items():
        for provider, entry in by_provider.items():
            if isinstance(entry, str):
                targets[f"{model}/{provider}"] = Target(entry)
            else:
                params = None if entry.params is None else MappingProxyType(dict(entry.params))
                targets[f"{model}/{provider}"] = Target(entry.model, params, entry.path)
    credentials = {k: tuple(tuple(o) for o in v) for k, v in doc.credentials.items()}
    reaches = {k: frozenset(v) for k, v in doc.reaches.items()}
    hosts = {k: tuple(v) for k, v in doc.hosts.items()}
    try:
        return Deployment(
            MappingProxyType(targets),
            MappingProxyType(credentials),
            MappingProxyType(reaches),
            MappingProxyType(hosts),
        )
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
