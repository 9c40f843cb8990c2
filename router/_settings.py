"""Settings: environment (``POLICY_ROUTER_*``, nested with ``__``), a ``.env`` file, or a YAML
config file named by ``POLICY_ROUTER_CONFIG_FILE``, in that order of precedence."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from router._core.duration import Duration
from router._core.preferences import Preferences

PACKAGE_DIR = Path(__file__).resolve().parent


def shipped_dir(name: str) -> Path:
    """``policies`` or ``config`` as shipped: inside the wheel, or beside the package in a checkout."""
    inside = PACKAGE_DIR / "_shipped" / name
    return inside if inside.is_dir() else PACKAGE_DIR.parent / name


def current_catalog_path() -> Path:
    """The shipped catalog whose file name sorts last (labels are ``YYYY-MM``)."""
    files = sorted(shipped_dir("policies").glob("*.yaml"))
    if not files:
        return shipped_dir("policies") / "missing.yaml"
    return files[-1]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProviderSettings(_Section):
    api_base: str | None = None


class OrgPolicy(_Section):
    """The operator's organisation policy: the loosest any user or request may be."""

    max_retention: str | None = None
    allow_flagged_retention: bool | None = None
    allow_training: bool | None = None
    allow_providers: list[str] | None = None
    deny_providers: list[str] = Field(default_factory=list)

    @field_validator("max_retention")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            Duration.parse(value)
        return value

    def preferences(self) -> Preferences:
        return Preferences.from_dict(self.model_dump())


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 8080
    api_keys: list[SecretStr] = Field(default_factory=list)
    admin_keys: list[SecretStr] = Field(default_factory=list)
    allow_no_auth: bool = False
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    graceful_timeout: float = Field(default=30.0, gt=0)
    # Seconds a client has to send a request's headers (from connecting, or from the end of
    # its last answer) and, separately, its whole body; past either the connection is closed.
    read_timeout: float = Field(default=10.0, gt=0)
    # An idle kept-alive connection closes after this: longer than clients keep theirs idle
    # (httpx and the openai SDK: 5 s), or a request sent as the server closes is lost.
    keep_alive_timeout: int = Field(default=10, gt=0)


class Settings(BaseSettings):
    """Every setting has an environment variable: ``POLICY_ROUTER_`` plus the field name."""

    model_config = SettingsConfigDict(
        env_prefix="POLICY_ROUTER_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        frozen=True,
    )

    catalog: Path = Field(default_factory=current_catalog_path)
    deployment: Path = Field(default_factory=lambda: shipped_dir("config") / "routes.yaml")
    route_models: dict[str, str] = Field(default_factory=dict)
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    org: OrgPolicy = Field(default_factory=OrgPolicy)
    provider_priority: list[str] = Field(default_factory=list)
    pseudonym_key: SecretStr | None = None
    audit: str = "stdout"
    store_url: str | None = None
    data_dir: Path | None = None
    offline: bool = False
    timeout: float = Field(default=60.0, gt=0)
    transport: Literal["httpx", "aiohttp"] = "httpx"
    server: ServerSettings = Field(default_factory=ServerSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = os.environ.get("POLICY_ROUTER_CONFIG_FILE")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        if config_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return (*sources, file_secret_settings)

    def resolved_data_dir(self) -> Path:
        if self.data_dir is not None:
            return self.data_dir
        from platformdirs import user_data_dir

        return Path(user_data_dir("policy-router", appauthor=False))

    def resolved_store_url(self) -> str:
        """The preference store URL; default a SQLite file in the user's data directory."""
        if self.store_url:
            return self.store_url
        return f"sqlite:///{self.resolved_data_dir() / 'preferences.sqlite3'}"
