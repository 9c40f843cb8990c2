"""Settings: environment, nested variables, the example files, and the public names."""

from __future__ import annotations

from pathlib import Path

import pytest

import router
from router import ConfigError, Preferences
from router._config.settings import Settings
from tests._support.repo import REPO


def test_settings__nested_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICY_ROUTER_ORG__MAX_RETENTION", "30d")
    monkeypatch.setenv("POLICY_ROUTER_ORG__DENY_PROVIDERS", '["xai"]')
    monkeypatch.setenv("POLICY_ROUTER_PROVIDERS__OPENAI__API_BASE", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("POLICY_ROUTER_ROUTE_MODELS", '{"kimi-k2/groq": "groq/other"}')
    settings = Settings()
    assert settings.org.preferences() == Preferences(max_retention="30d", deny_providers=["xai"])
    assert settings.providers["openai"].api_base == "http://127.0.0.1:9/v1"
    assert settings.route_models == {"kimi-k2/groq": "groq/other"}


def test_settings__example_env_file_loads_as_dotenv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text((REPO / "config" / "org-policy.example.env").read_text())
    settings = Settings()
    assert settings.org.preferences() == Preferences(
        max_retention="30d",
        allow_training=False,
        allow_flagged_retention=True,
        deny_providers=["xai"],
    )
    assert settings.provider_priority == ["fireworks", "together", "groq"]


def test_settings__example_yaml_file_loads_and_env_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICY_ROUTER_CONFIG_FILE", str(REPO / "config" / "settings.example.yaml"))
    monkeypatch.setenv("POLICY_ROUTER_TIMEOUT", "5")
    settings = Settings()
    assert (
        settings.org.preferences().max_retention == Preferences(max_retention="30d").max_retention
    )
    assert settings.server.host == "0.0.0.0"  # noqa: S104 - the example file's value
    assert settings.timeout == 5


def test_settings__defaults_need_nothing() -> None:
    settings = Settings()
    assert settings.catalog == REPO / "policies" / "2025-11.yaml"
    assert settings.offline is False
    assert settings.org.preferences() == Preferences()
    assert settings.resolved_store_url().startswith("sqlite:///")


def test_settings__bad_org_retention_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICY_ROUTER_ORG__MAX_RETENTION", "a while")
    with pytest.raises(ConfigError, match="POLICY_ROUTER_ORG__MAX_RETENTION"):
        Settings()


def test_public_names__all_matches_what_the_package_exports() -> None:
    public = {name for name in dir(router) if not name.startswith("_")}
    assert set(router.__all__) == public - {"cli"}
    for name in ("PolicyRouter", "Preferences", "RouterError", "PolicyViolation",
                 "UnknownModel", "BackendUnavailable"):  # fmt: skip
        assert name in router.__all__
