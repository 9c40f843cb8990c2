"""The preference fields are declared once (``router._core.preferences.FIELDS``): the
organisation policy in settings, the HTTP body's ``privacy`` object and the CLI's flags are
derived from that declaration, so a field's name, meaning and parsing agree everywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import fields

import pytest
from typer.testing import CliRunner

from router import Preferences
from router._config.settings import PrivacyFields, Settings
from router._core.preferences import FIELDS, PreferenceField
from router._errors import ConfigError
from router._server import schemas
from router.cli import app

FLAGS = {
    "max_retention": "--max-retention",
    "allow_flagged_retention": "--allow-flagged-retention/--no-allow-flagged-retention",
    "allow_training": "--allow-training/--no-allow-training",
    "allow_providers": "--allow-provider",
    "deny_providers": "--deny-provider",
    "require_parameters": "--require-parameters/--no-require-parameters",
}
BY_NAME = {spec.name: spec for spec in FIELDS}


def test_fields__one_per_field_of_preferences_in_order() -> None:
    assert [spec.name for spec in FIELDS] == [f.name for f in fields(Preferences)]
    assert list(FLAGS) == [spec.name for spec in FIELDS]


@pytest.mark.parametrize("spec", FIELDS, ids=lambda spec: spec.name)
def test_privacy_fields__openapi_describes_each_field_with_its_help(spec: PreferenceField) -> None:
    schema = schemas.PrivacyFields.model_json_schema()
    assert schema["additionalProperties"] is False
    assert schema["properties"][spec.name]["description"] == spec.help


def test_privacy_fields__are_the_fields_of_preferences_and_nothing_else() -> None:
    assert list(PrivacyFields.model_fields) == [spec.name for spec in FIELDS]
    body = PrivacyFields.model_validate({"max_retention": "24h", "allow_providers": ["Groq"]})
    assert body.preferences() == Preferences(max_retention="24h", allow_providers=["groq"])
    with pytest.raises(ValueError, match="retention"):
        PrivacyFields.model_validate({"retention": "24h"})


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        pytest.param("MAX_RETENTION", "24h", Preferences(max_retention="24h"), id="a duration"),
        pytest.param(
            "ALLOW_FLAGGED_RETENTION",
            "false",
            Preferences(allow_flagged_retention=False),
            id="a boolean",
        ),
        pytest.param("ALLOW_TRAINING", "no", Preferences(allow_training=False), id="a yes/no"),
        pytest.param(
            "ALLOW_PROVIDERS",
            '["openai", "Groq"]',
            Preferences(allow_providers=["openai", "groq"]),
            id="a JSON list",
        ),
        pytest.param(
            "DENY_PROVIDERS", '["xai"]', Preferences(deny_providers=["xai"]), id="another list"
        ),
    ],
)
def test_settings_org__one_variable_per_field(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: Preferences
) -> None:
    assert name.lower() in BY_NAME
    monkeypatch.setenv(f"POLICY_ROUTER_ORG__{name}", value)
    assert Settings().org.preferences() == expected


def test_settings_org__bad_value_fails_on_load_with_the_preference_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POLICY_ROUTER_ORG__MAX_RETENTION", "a fortnight")
    with pytest.raises(ConfigError, match="POLICY_ROUTER_ORG") as caught:
        Settings()
    assert (
        "'max_retention' must be 'none', a duration like '24h', '30d', '90d' or '2y', or "
        "'unlimited' (got a string of 11 characters)"
    ) in str(caught.value)


@pytest.mark.parametrize(
    "command", [["models"], ["explain"], ["route"], ["prefs", "set"]], ids=" ".join
)
def test_cli__each_preference_command_has_one_flag_per_field_with_its_help(
    command: list[str],
) -> None:
    # click's test runner renders help 80 columns wide; a wide terminal keeps each help whole
    result = subprocess.run(
        [sys.executable, "-m", "router.cli", *command, "--help"],
        env=os.environ | {"COLUMNS": "300"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for spec in FIELDS:
        for flag in FLAGS[spec.name].split("/"):
            assert f" {flag} " in result.stdout or f" {flag}\n" in result.stdout
        assert spec.help in result.stdout


def test_cli__flags_state_the_request_preferences() -> None:
    result = CliRunner().invoke(
        app,
        ["explain", "Kimi K2", "--offline", "--json", "--no-allow-training",
         "--allow-provider", "Groq", "--allow-provider", "nebius", "--deny-provider", "groq",
         "--no-allow-flagged-retention", "--max-retention", "30d"],
    )  # fmt: skip
    assert result.exit_code in (0, 2), result.output
    assert json.loads(result.stdout)["preferences"] == {
        "max_retention": "30d",
        "allow_flagged_retention": False,
        "allow_training": False,
        "allow_providers": ["groq", "nebius"],
        "deny_providers": ["groq"],
    }


def test_preferences_to_dict__an_empty_allow_list_allows_no_provider() -> None:
    prefs = Preferences(allow_providers=[])
    assert prefs.to_dict() == {"allow_providers": []}
    assert not prefs.is_empty
    assert Preferences.from_dict(prefs.to_dict()) == prefs
