"""Settings fail closed: an unknown name, a malformed value or a weak key is an error that
names the variable (or config key) and what is expected, never silently ignored."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from router import ConfigError
from router._config.settings import ServerSettings, Settings
from router.cli import app

STRONG_PSEUDONYM_KEY = "9f86d081884c7d659a2feaa0c55ad015"  # 32 hex characters, no repeat
STRONG_AUDIT_KEY = "2c26b46b68ffc68ff99b453c1d304134"
WEAK_KEY = (
    "refusing a weak POLICY_ROUTER_{variable} ({chars} characters, {distinct} different, about "
    "{bits} bits): it needs at least 32 characters, 8 of them different, and about 96 bits (see "
    "docs/security.md, 'Keys'; make one with: openssl rand -hex 32), or unset it to use the "
    "key file in the data directory"
)


def _refused(monkeypatch: pytest.MonkeyPatch, **variables: str) -> str:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        Settings()
    return str(caught.value)


# --- unknown names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param(
            "POLICY_ROUTER_TIMOUT",
            "unknown setting POLICY_ROUTER_TIMOUT in the environment; "
            "did you mean POLICY_ROUTER_TIMEOUT?",
            id="a misspelt top-level variable",
        ),
        pytest.param(
            "POLICY_ROUTER_ORG__MAX_RETENTON",
            "unknown setting POLICY_ROUTER_ORG__MAX_RETENTON in the environment; "
            "did you mean POLICY_ROUTER_ORG__MAX_RETENTION?",
            id="a misspelt org field",
        ),
        pytest.param(
            "POLICY_ROUTER_ORGS__DENY_PROVIDERS",
            "unknown setting POLICY_ROUTER_ORGS__DENY_PROVIDERS in the environment; "
            "did you mean POLICY_ROUTER_ORG__DENY_PROVIDERS?",
            id="a misspelt org section",
        ),
        pytest.param(
            "POLICY_ROUTER_PROVIDERS__OPENAI__API_BAS",
            "unknown setting POLICY_ROUTER_PROVIDERS__OPENAI__API_BAS in the environment; "
            "did you mean POLICY_ROUTER_PROVIDERS__<NAME>__API_BASE?",
            id="a misspelt field of one provider",
        ),
        pytest.param(
            "policy_router_ofline",
            "unknown setting policy_router_ofline in the environment; "
            "did you mean POLICY_ROUTER_OFFLINE?",
            id="lower case, as pydantic-settings also reads it",
        ),
    ],
)
def test_settings__unknown_variable_is_named_with_the_closest_known(
    monkeypatch: pytest.MonkeyPatch, name: str, message: str
) -> None:
    assert _refused(monkeypatch, **{name: "5"}) == message


def test_settings__known_variables_and_nested_maps_are_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POLICY_ROUTER_PROVIDERS__OPENAI__API_BASE", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("POLICY_ROUTER_ROUTE_MODELS__X", "groq/other")
    monkeypatch.setenv("POLICY_ROUTER_SERVER__PORT", "9000")
    monkeypatch.setenv("POLICY_ROUTER_STORE_TIMEOUT", "2.5")
    settings = Settings()
    assert (settings.server.port, settings.store_timeout) == (9000, 2.5)


def test_settings__dotenv_may_hold_other_programs_variables_but_not_our_typos(
    tmp_path: Path,
) -> None:
    (tmp_path / ".env").write_text("OPENAI_API_KEY=sk-x\nDATABASE_URL=x\nPOLICY_ROUTER_TIMEOUT=3\n")
    assert Settings().timeout == 3
    (tmp_path / ".env").write_text("OTHER=1\nPOLICY_ROUTER_TIMOUT=3\n")
    with pytest.raises(ConfigError) as caught:
        Settings()
    assert str(caught.value) == (
        "unknown setting POLICY_ROUTER_TIMOUT in .env; did you mean POLICY_ROUTER_TIMEOUT?"
    )


def test_settings__unknown_config_file_keys_are_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("ofline: true\norgs: {max_retention: none}\n")
    message = _refused(monkeypatch, POLICY_ROUTER_CONFIG_FILE=str(config))
    assert message == (
        f"unknown setting ofline in the config file {config}; did you mean offline?; "
        f"unknown setting orgs in the config file {config}; did you mean org?"
    )


@pytest.mark.parametrize(
    ("name", "written", "problem"),
    [
        pytest.param(
            "cfg.yml",
            "cfg.yaml",
            "which does not exist or is not a file: fix the path, or unset the variable to read "
            "no config file",
            id="a config file path that does not exist is refused",
        ),
        pytest.param(
            "cfg.toml",
            "cfg.toml",
            "a file the settings loader does not read: a config file is YAML, named *.yaml or "
            "*.yml",
            id="a config file the loader does not read is refused",
        ),
        pytest.param(
            "cfg.json",
            "cfg.json",
            "a file the settings loader does not read: a config file is YAML, named *.yaml or "
            "*.yml",
            id="a JSON config file is refused rather than ignored",
        ),
    ],
)
def test_settings__config_file_that_cannot_be_read_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, written: str, problem: str
) -> None:
    (tmp_path / written).write_text("org: {max_retention: none}\n")
    named = tmp_path / name
    message = _refused(monkeypatch, POLICY_ROUTER_CONFIG_FILE=str(named))
    assert message == f"POLICY_ROUTER_CONFIG_FILE names {named}, {problem}"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        pytest.param(
            "POLICY_ROUTER_PROVIDERS__OPENIA__API_BASE",
            "http://127.0.0.1:9/v1",
            "POLICY_ROUTER_PROVIDERS__OPENIA: the catalog {label} has no provider 'openia'; did "
            "you mean 'openai'?",
            id="a misspelt provider slug is refused with the closest one",
        ),
        pytest.param(
            "POLICY_ROUTER_ROUTE_MODELS",
            '{"kimi-k2/grok": "groq/moonshotai/kimi-k2-instruct"}',
            "POLICY_ROUTER_ROUTE_MODELS: the catalog {label} has no route 'kimi-k2/grok'; did you "
            "mean 'kimi-k2/groq'?",
            id="an unknown route key is refused with the closest one",
        ),
    ],
)
def test_router__settings_naming_what_the_catalog_lacks_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str, message: str
) -> None:
    from router import PolicyRouter
    from router._audit import AuditLog
    from router._core.catalog_load import load_catalog

    monkeypatch.setenv(variable, value)
    settings = Settings(data_dir=tmp_path, offline=True)
    with pytest.raises(ConfigError) as caught:
        PolicyRouter.from_settings(settings, audit_log=AuditLog(lambda _: None))
    assert str(caught.value) == message.format(label=load_catalog(settings.catalog).label)


def test_settings__unknown_key_inside_a_config_file_section_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("org: {max_retenton: none}\n")
    message = _refused(monkeypatch, POLICY_ROUTER_CONFIG_FILE=str(config))
    assert message == (
        "invalid settings: unknown setting POLICY_ROUTER_ORG__MAX_RETENTON (or "
        "'org.max_retenton' in the config file) in the settings; did you mean "
        "POLICY_ROUTER_ORG__MAX_RETENTION?"
    )


def test_settings__unknown_argument_is_named() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings(timout=5)
    assert str(caught.value) == "unknown setting timout in the arguments; did you mean timeout?"


# --- malformed values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        pytest.param(
            "POLICY_ROUTER_SERVER__API_KEYS",
            "[k]",
            "POLICY_ROUTER_SERVER__API_KEYS (the environment) must be JSON, like "
            'POLICY_ROUTER_SERVER__API_KEYS=\'["a", "b"]\' (it does not parse: Expecting value: '
            "line 1 column 2 (char 1))",
            id="a list that is not JSON",
        ),
        pytest.param(
            "POLICY_ROUTER_ROUTE_MODELS",
            "a=b",
            "POLICY_ROUTER_ROUTE_MODELS (the environment) must be JSON, like "
            'POLICY_ROUTER_ROUTE_MODELS=\'{"name": "value"}\' (it does not parse: Expecting '
            "value: line 1 column 1 (char 0))",
            id="a mapping that is not JSON",
        ),
        pytest.param(
            "POLICY_ROUTER_TIMEOUT",
            "soon",
            "invalid settings: POLICY_ROUTER_TIMEOUT (or 'timeout' in the config file): Input "
            "should be a valid number, unable to parse string as a number (got 'soon')",
            id="a number that is not",
        ),
        pytest.param(
            "POLICY_ROUTER_STORE_TIMEOUT",
            "0",
            "invalid settings: POLICY_ROUTER_STORE_TIMEOUT (or 'store_timeout' in the config "
            "file): Input should be greater than 0 (got '0')",
            id="a store timeout of 0",
        ),
        pytest.param(
            "POLICY_ROUTER_ORG__MAX_RETENTION",
            ".nan",
            "invalid settings: POLICY_ROUTER_ORG__MAX_RETENTION (or 'org.max_retention' in the "
            "config file): 'max_retention' must be 'none', a duration like '24h', '30d', '90d' "
            "or '2y', or 'unlimited' (got a string of 4 characters)",
            id="a retention of .nan",
        ),
    ],
)
def test_settings__malformed_value_names_the_variable_and_the_format(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    assert _refused(monkeypatch, **{name: value}) == message


def test_cli__malformed_setting_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICY_ROUTER_SERVER__API_KEYS", "[k]")
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: POLICY_ROUTER_SERVER__API_KEYS (the environment)")
    assert result.stderr.count("\n") == 1


# --- key strength -------------------------------------------------------------------------------


WEAK_SECRET_KEYS = [
    pytest.param("", 0, 0, 0, id="blank"),
    pytest.param("   ", 3, 1, 0, id="spaces"),
    pytest.param("change-me", 9, 8, 27, id="a placeholder"),
    pytest.param("aaaaa", 5, 1, 0, id="5 characters"),
    pytest.param("0123456789abcdef0123456789abcde", 31, 16, 64, id="31 characters"),
    pytest.param("a" * 32, 32, 1, 0, id="32 times the same character"),
    pytest.param("ab" * 20, 40, 2, 2, id="40 characters, 2 different"),
    pytest.param("abcdefgh" * 4, 32, 8, 24, id="a unit of 8 repeated 4 times"),
    pytest.param("0123456789abcdef" * 2, 32, 16, 64, id="a unit of 16 repeated twice"),
]


@pytest.mark.parametrize("variable", ["PSEUDONYM_KEY", "AUDIT_KEY"])
@pytest.mark.parametrize(("key", "chars", "distinct", "bits"), WEAK_SECRET_KEYS)
def test_settings__weak_pseudonym_or_audit_key_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, key: str, chars: int, distinct: int, bits: int
) -> None:
    message = _refused(monkeypatch, **{f"POLICY_ROUTER_{variable}": key})
    assert message == WEAK_KEY.format(variable=variable, chars=chars, distinct=distinct, bits=bits)
    assert key.strip() == "" or key not in message


def test_settings__audit_key_equal_to_the_pseudonym_key_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = _refused(
        monkeypatch,
        POLICY_ROUTER_PSEUDONYM_KEY=STRONG_PSEUDONYM_KEY,
        POLICY_ROUTER_AUDIT_KEY=STRONG_PSEUDONYM_KEY,
    )
    assert message == (
        "refusing POLICY_ROUTER_AUDIT_KEY: it equals POLICY_ROUTER_PSEUDONYM_KEY, so whoever "
        "checks the log could also name its users; set two different keys (openssl rand -hex 32, "
        "twice)"
    )


def test_settings__strong_and_different_audit_and_pseudonym_keys_are_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POLICY_ROUTER_PSEUDONYM_KEY", STRONG_PSEUDONYM_KEY)
    monkeypatch.setenv("POLICY_ROUTER_AUDIT_KEY", STRONG_AUDIT_KEY)
    settings = Settings()
    assert settings.audit_key is not None
    assert settings.audit_key.get_secret_value() == STRONG_AUDIT_KEY


@pytest.mark.parametrize(
    ("text", "bits"),
    [
        pytest.param("a" * 32, 0, id="one character repeated has no bits"),
        pytest.param("abcab" * 7, 7, id="a repeated unit counts once: 5 x log2(3)"),
        pytest.param("abcdefgh" * 4, 24, id="8 different characters repeated 4 times: 8 x 3"),
        pytest.param("test-admin-key-1", 57, id="16 characters, 12 different: 16 x log2(12)"),
    ],
)
def test_estimated_bits__counts_the_repeating_unit_times_log2_of_the_different_characters(
    text: str, bits: int
) -> None:
    from router._config.keyfile import estimated_bits

    assert estimated_bits(text) == bits


def test_settings__strong_pseudonym_key_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICY_ROUTER_PSEUDONYM_KEY", STRONG_PSEUDONYM_KEY)
    key = Settings().pseudonym_key
    assert key is not None
    assert key.get_secret_value() == STRONG_PSEUDONYM_KEY


@pytest.mark.parametrize(
    ("server", "message"),
    [
        pytest.param(
            {"api_keys": ["k"]},
            "refusing a weak key: POLICY_ROUTER_SERVER__API_KEYS entry 1 has 1 characters (not "
            "counting spaces); a key needs at least 16 (make one with: openssl rand -hex 16)",
            id="a one-character API key",
        ),
        pytest.param(
            {"api_keys": ["a" * 16]},
            "refusing a weak key: POLICY_ROUTER_SERVER__API_KEYS entry 1 has 1 different "
            "characters, about 0 bits; a key needs 8 different characters and about 48 bits (see "
            "docs/security.md, 'Keys'; make one with: openssl rand -hex 16)",
            id="16 times the same character",
        ),
        pytest.param(
            {"admin_keys": ["test-admin-key-1", "abcdabcdabcdabcd"]},
            "refusing a weak key: POLICY_ROUTER_SERVER__ADMIN_KEYS entry 2 has 4 different "
            "characters, about 8 bits; a key needs 8 different characters and about 48 bits (see "
            "docs/security.md, 'Keys'; make one with: openssl rand -hex 16)",
            id="a short unit repeated",
        ),
        pytest.param(
            {
                "api_keys": ["test-api-key-0001"],
                "admin_keys": ["test-admin-key-1", "  fifteen chars  "],
            },
            "refusing a weak key: POLICY_ROUTER_SERVER__ADMIN_KEYS entry 2 has 13 characters (not "
            "counting spaces); a key needs at least 16 (make one with: openssl rand -hex 16)",
            id="a short admin key padded with spaces",
        ),
    ],
)
def test_server_settings__weak_api_key_is_refused(
    server: dict[str, list[str]], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        ServerSettings(**server)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_server_settings__an_api_key_that_is_also_an_admin_key_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        ServerSettings(
            api_keys=["test-api-key-0001-long", "shared-key-0001-xyz"],  # type: ignore[list-item]
            admin_keys=["test-admin-key-1", " shared-key-0001-xyz"],  # type: ignore[list-item]
        )
    assert str(caught.value) == (
        "refusing to start: POLICY_ROUTER_SERVER__API_KEYS entry 2 is also "
        "POLICY_ROUTER_SERVER__ADMIN_KEYS entry 2, so it would act as admin; give callers and "
        "administrators different keys"
    )


def test_settings__weak_api_key_from_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = _refused(monkeypatch, POLICY_ROUTER_SERVER__API_KEYS='["short"]')
    assert message.startswith("refusing a weak key: POLICY_ROUTER_SERVER__API_KEYS entry 1 has 5")
    assert "short" not in message.removeprefix("refusing a weak key")
