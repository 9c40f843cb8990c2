"""Settings: environment (``POLICY_ROUTER_*``, nested with ``__``), a ``.env`` file, or a YAML
config file named by ``POLICY_ROUTER_CONFIG_FILE``, in that order of precedence.

Every error is a ``ConfigError`` naming the variable: an unknown name (see
``_settings_sources``), a malformed value, or a key too weak to use."""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    YamlConfigSettingsSource,
)

from router._config.keyfile import (
    MIN_API_KEY_BITS,
    MIN_DISTINCT,
    MIN_SECRET_BITS,
    estimated_bits,
    weak_key,
)
from router._config.sources import (
    PREFIX,
    check_json_values,
    check_keys,
    check_variables,
    describe,
    dotenv_names,
)
from router._core.duration import Duration
from router._core.preferences import FIELDS, Preferences
from router._core.resend import DEFAULT_RESENDS
from router._errors import ConfigError

if TYPE_CHECKING:
    from router._core.catalog import Catalog

MIN_API_KEY_CHARS: Final = 16
MIN_PSEUDONYM_KEY_CHARS: Final = 32

STORE_TIMEOUT_SECONDS: Final = 5.0  # how long a preference read or write may wait for a lock

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # router/


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


class PreferenceFields(_Section):
    """The fields of ``Preferences`` as plain data (``PrivacyFields`` declares them)."""

    def plain(self) -> dict[str, Any]:
        """The fields given, as ``Preferences.from_dict`` takes them."""
        return self.model_dump(exclude_none=True)

    def preferences(self) -> Preferences:
        return Preferences.from_dict(self.plain())


def _one_field(name: str) -> Any:
    """A validator that parses one field as preferences do, so an error names that field."""

    def check(cls: Any, value: Any) -> Any:
        if value is not None:
            Preferences.from_dict({name: value})
        return value

    return classmethod(check)


def _privacy_fields() -> type[PreferenceFields]:
    """One field per ``router._core.preferences.FIELDS``: its plain type, help and examples."""
    declared: dict[str, Any] = {
        spec.name: (
            spec.kind.plain_type | None,
            Field(None, description=spec.help, examples=list(spec.examples) or None),
        )
        for spec in FIELDS
    }
    checks = {
        f"_check_{spec.name}": field_validator(spec.name)(_one_field(spec.name)) for spec in FIELDS
    }
    return create_model(
        "PrivacyFields",
        __base__=PreferenceFields,
        __validators__=checks,
        __doc__="Preference fields: the operator's policy, a request's ``privacy`` or a user's "
        "stored preferences. A field left out states no constraint.",
        __module__=__name__,
        **declared,
    )


if TYPE_CHECKING:  # a type checker sees the base; the fields are made from FIELDS at run time
    PrivacyFields = PreferenceFields
else:
    PrivacyFields = _privacy_fields()


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 8080
    api_keys: list[SecretStr] = Field(default_factory=list)
    admin_keys: list[SecretStr] = Field(default_factory=list)
    allow_no_auth: bool = False
    max_body_bytes: int = Field(default=32 * 1024 * 1024, gt=0)  # docs/proxy.md, "Body size"
    graceful_timeout: float = Field(default=30.0, gt=0)
    # Seconds a client has to send a request's headers (from connecting, or from the end of
    # its last answer) and, separately, its whole body; past either the connection is closed.
    read_timeout: float = Field(default=10.0, gt=0)
    # An idle kept-alive connection closes after this: longer than clients keep theirs idle
    # (httpx and the openai SDK: 5 s), or a request sent as the server closes is lost.
    keep_alive_timeout: int = Field(default=10, gt=0)

    @field_validator("api_keys", "admin_keys")
    @classmethod
    def _strong_keys(cls, keys: list[SecretStr], info: Any) -> list[SecretStr]:
        variable = f"POLICY_ROUTER_SERVER__{info.field_name.upper()}"
        for index, key in enumerate(keys):
            text = key.get_secret_value().strip()
            if len(text) < MIN_API_KEY_CHARS:
                raise ConfigError(
                    f"refusing a weak key: {variable} entry {index + 1} has {len(text)} characters "
                    f"(not counting spaces); a key needs at least {MIN_API_KEY_CHARS} (make one "
                    "with: openssl rand -hex 16)"
                )
            if weak_key(text, chars=MIN_API_KEY_CHARS, bits=MIN_API_KEY_BITS):
                raise ConfigError(
                    f"refusing a weak key: {variable} entry {index + 1} has {len(set(text))} "
                    f"different characters, about {estimated_bits(text)} bits; a key needs "
                    f"{MIN_DISTINCT} different characters and about {MIN_API_KEY_BITS} bits "
                    "(see docs/security.md, 'Keys'; make one with: openssl rand -hex 16)"
                )
        return keys

    @model_validator(mode="after")
    def _api_keys_apart_from_admin_keys(self) -> ServerSettings:
        admin = {k.get_secret_value().strip(): i for i, k in enumerate(self.admin_keys)}
        for index, key in enumerate(self.api_keys):
            found = admin.get(key.get_secret_value().strip())
            if found is not None:
                raise ConfigError(
                    f"refusing to start: POLICY_ROUTER_SERVER__API_KEYS entry {index + 1} is also "
                    f"POLICY_ROUTER_SERVER__ADMIN_KEYS entry {found + 1}, so it would act as "
                    "admin; give callers and administrators different keys"
                )
        return self


class _CheckedYaml(YamlConfigSettingsSource):
    """The YAML config file, refused if a top-level key names no setting."""

    def __init__(self, settings_cls: type[BaseSettings], yaml_file: str) -> None:
        super().__init__(settings_cls, yaml_file=yaml_file)
        if not isinstance(self.yaml_data, dict):
            raise ConfigError(f"the config file {yaml_file} must be a mapping of settings")
        check_keys(settings_cls, self.yaml_data, f"the config file {yaml_file}")


CONFIG_SUFFIXES: Final = (".yaml", ".yml")


def _config_file(name: str) -> str:
    """``POLICY_ROUTER_CONFIG_FILE``, refused unless it names a YAML file that exists: a path
    mistyped would otherwise drop the operator's policy without a word."""
    path = Path(name)
    if path.suffix.lower() not in CONFIG_SUFFIXES:
        raise ConfigError(
            f"POLICY_ROUTER_CONFIG_FILE names {path}, a file the settings loader does not read: "
            f"a config file is YAML, named *{' or *'.join(CONFIG_SUFFIXES)}"
        )
    if not path.is_file():
        raise ConfigError(
            f"POLICY_ROUTER_CONFIG_FILE names {path}, which does not exist or is not a file: "
            "fix the path, or unset the variable to read no config file"
        )
    return name


def check_catalog_names(settings: Settings, catalog: Catalog) -> None:
    """Provider slugs (``providers``) and route keys (``route_models``) in the settings must be
    the catalog's: else ConfigError, with the closest name. A misspelt provider would otherwise
    send its traffic past the operator's gateway; a misspelt route would keep its default."""
    providers = [p.slug for p in catalog.providers]
    for slug in settings.providers:
        if slug not in providers:
            variable = f"POLICY_ROUTER_PROVIDERS__{slug.upper()}"
            raise ConfigError(_unknown(variable, "provider", slug, providers, catalog.label))
    routes = [r.key for r in catalog.routes]
    for key in settings.route_models:
        if key not in routes:
            raise ConfigError(
                _unknown("POLICY_ROUTER_ROUTE_MODELS", "route", key, routes, catalog.label)
            )


def _unknown(variable: str, kind: str, name: str, known: list[str], label: str) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; expected one of: {', '.join(known)}"
    return f"{variable}: the catalog {label} has no {kind} {name!r}{hint}"


class Settings(BaseSettings):
    """Every setting has an environment variable: ``POLICY_ROUTER_`` plus the field name."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        frozen=True,
    )

    catalog: Path = Field(default_factory=current_catalog_path)
    deployment: Path = Field(default_factory=lambda: shipped_dir("config") / "routes.yaml")
    route_models: dict[str, str] = Field(default_factory=dict)
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    org: PrivacyFields = Field(default_factory=PrivacyFields)
    provider_priority: list[str] = Field(default_factory=list)
    pseudonym_key: SecretStr | None = None
    # Unset: ``serve`` writes to stdout and stderr (``serving``), the library to files in the
    # data directory, never to the application's own output (``resolved_audit``).
    audit: str | None = None
    audit_key: SecretStr | None = None
    audit_checkpoint: str | None = None
    audit_checkpoint_every: int = Field(default=1000, gt=0)
    audit_checkpoint_seconds: float = Field(default=60.0, gt=0)
    # Rotated audit files older than this are dropped, each after a cut point (docs/audit.md)
    audit_retention: str | None = None
    store_url: str | None = None
    store_timeout: float = Field(default=STORE_TIMEOUT_SECONDS, gt=0, le=3600)
    data_dir: Path | None = None
    offline: bool = False
    timeout: float = Field(default=60.0, gt=0)
    # Resends of a transient failure (timeout, connection, 429, 5xx) to the same route before
    # failing over, as the openai SDK's max_retries; a library caller's max_retries overrides.
    resends: int = Field(default=DEFAULT_RESENDS, ge=0, le=10)
    transport: Literal["httpx", "aiohttp", "httptools"] = "httptools"
    server: ServerSettings = Field(default_factory=ServerSettings)

    def __init__(self, **values: Any) -> None:
        """Read the settings; raise ConfigError naming any unknown or malformed one."""
        cls = type(self)
        check_keys(cls, {k: v for k, v in values.items() if not k.startswith("_")}, "the arguments")
        for where, variables in (
            ("the environment", os.environ),
            (".env", dotenv_names(Path(".env"))),
        ):
            check_variables(cls, variables, where)
            check_json_values(cls, variables, where)
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise describe(cls, exc) from None
        except SettingsError as exc:
            raise ConfigError(f"invalid settings: {exc}") from None

    @field_validator("pseudonym_key", "audit_key")
    @classmethod
    def _strong_secret_key(cls, key: SecretStr | None, info: Any) -> SecretStr | None:
        text = "" if key is None else key.get_secret_value()
        if key is not None and weak_key(text, chars=MIN_PSEUDONYM_KEY_CHARS, bits=MIN_SECRET_BITS):
            raise ConfigError(
                f"refusing a weak POLICY_ROUTER_{info.field_name.upper()} ({len(text)} "
                f"characters, {len(set(text))} different, about {estimated_bits(text)} bits): it "
                f"needs at least {MIN_PSEUDONYM_KEY_CHARS} characters, {MIN_DISTINCT} of them "
                f"different, and about {MIN_SECRET_BITS} bits (see docs/security.md, 'Keys'"
                "; make one with: openssl rand -hex 32), or unset it to use the key file "
                "in the data directory"
            )
        return key

    @model_validator(mode="after")
    def _audit_key_apart_from_pseudonym_key(self) -> Settings:
        audit, pseudonym = self.audit_key, self.pseudonym_key
        if audit and pseudonym and audit.get_secret_value() == pseudonym.get_secret_value():
            raise ConfigError(
                "refusing POLICY_ROUTER_AUDIT_KEY: it equals POLICY_ROUTER_PSEUDONYM_KEY, so "
                "whoever checks the log could also name its users; set two different keys "
                "(openssl rand -hex 32, twice)"
            )
        return self

    @field_validator("audit_retention")
    @classmethod
    def _retention(cls, value: str | None) -> str | None:
        if value is not None:
            Duration.parse(value)  # a bad value fails when settings load, naming the variable
        return value

    def audit_retention_duration(self) -> Duration | None:
        """``audit_retention`` as a duration; ``None``: rotated files are kept."""
        return None if self.audit_retention is None else Duration.parse(self.audit_retention)

    @field_validator("org")
    @classmethod
    def _org(cls, org: PrivacyFields) -> PrivacyFields:
        org.preferences()  # a bad value fails when settings load, naming its field
        return org

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
            sources.append(_CheckedYaml(settings_cls, yaml_file=_config_file(config_file)))
        return (*sources, file_secret_settings)

    def resolved_data_dir(self) -> Path:
        if self.data_dir is not None:
            return self.data_dir
        from platformdirs import user_data_dir

        return Path(user_data_dir("policy-router", appauthor=False))

    def resolved_audit(self) -> tuple[str, str]:
        """Where audit records and checkpoints go: as set, else ``audit.jsonl`` and
        ``audit-checkpoints.jsonl`` in the data directory (the library's default)."""
        folder = self.resolved_data_dir()
        return (
            self.audit or str(folder / "audit.jsonl"),
            self.audit_checkpoint or str(folder / "audit-checkpoints.jsonl"),
        )

    def serving(self) -> Settings:
        """These settings as ``serve`` runs them: audit records to stdout and checkpoints to
        stderr unless set (a service's log collector reads them there), and ``offline`` as set,
        never guessed (a proxy with no credentials answers 503, not litellm's mock)."""
        return self.model_copy(
            update={
                "audit": self.audit or "stdout",
                "audit_checkpoint": self.audit_checkpoint or "stderr",
                "offline": self.offline,
            }
        )

    def resolved_store_url(self) -> str:
        """The preference store URL; default a SQLite file in the user's data directory."""
        if self.store_url:
            return self.store_url
        return f"sqlite:///{self.resolved_data_dir() / 'preferences.sqlite3'}"
