"""Deployment: the litellm target of each route, the credentials each prefix needs, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from router import load_catalog
from router._errors import ConfigError
from router._upstream.deployment import Deployment, Target, load_deployment
from tests._support.repo import CURRENT_CATALOG, REPO

SHIPPED = REPO / "config" / "routes.yaml"


REACHES = "reaches: {openai: [openai], groq: [groq], cerebras: [cerebras], azure: [azure]}\n"


def _deployment(tmp_path: Path, text: str) -> Deployment:
    path = tmp_path / "routes.yaml"
    path.write_text(REACHES + text, encoding="utf-8")
    return load_deployment(path)


def test_shipped_deployment__reaches_every_route_of_the_current_catalog_and_no_other() -> None:
    deployment = load_deployment(SHIPPED)
    keys = {route.key for route in load_catalog(CURRENT_CATALOG).routes}
    assert set(deployment.targets) == keys
    prefixes = {target.prefix for target in deployment.targets.values()}
    assert prefixes <= set(deployment.credentials)  # every route says which keys it needs


def test_load__a_string_is_the_model_and_a_mapping_may_fix_params(tmp_path: Path) -> None:
    deployment = _deployment(
        tmp_path,
        "routes:\n"
        "  m:\n"
        "    openai: openai/gpt-4.1\n"
        "    groq: {model: groq/kimi, params: {reasoning_effort: low}}\n"
        "    cerebras: {model: cerebras/qwen-thinking, params: {}}\n",
    )
    assert deployment.target("m/openai") == Target("openai/gpt-4.1")
    groq = deployment.target("m/groq")
    assert groq is not None
    assert (groq.model, dict(groq.params or {})) == ("groq/kimi", {"reasoning_effort": "low"})
    cerebras = deployment.target("m/cerebras")
    assert cerebras is not None
    assert cerebras.params == {}  # no params: the catalog model's are replaced, not kept
    assert deployment.target("m/xai") is None


def test_load__an_empty_file_is_an_empty_deployment(tmp_path: Path) -> None:
    deployment = _deployment(tmp_path, "")
    assert (dict(deployment.targets), dict(deployment.credentials)) == ({}, {})


def test_target__prefix_is_litellms_provider() -> None:
    assert Target("bedrock/us.anthropic.claude-v1:0").prefix == "bedrock"
    assert Target("fireworks_ai/accounts/fireworks/models/x").prefix == "fireworks_ai"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("routes: [", "is not valid YAML (", id="YAML that does not parse"),
        pytest.param(
            "nonsense: 1", "nonsense: Extra inputs are not permitted", id="an unknown key"
        ),
        pytest.param(
            "credentials: {openai: OPENAI_API_KEY}",
            "credentials.openai: Input should be a valid list",
            id="credentials that are not alternatives",
        ),
        pytest.param(
            "routes: {m: {p: {model: gpt-4.1}}}",
            "routes.m.p.",
            id="a mapping whose model has no litellm prefix",
        ),
    ],
)
def test_load__names_the_file_and_the_place(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _deployment(tmp_path, text)
    assert str(caught.value).startswith(f"{tmp_path / 'routes.yaml'}: {message}")


def test_load__a_missing_file_says_it_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_deployment(tmp_path / "nope.yaml")
    assert (
        str(caught.value) == f"{tmp_path / 'nope.yaml'}: cannot be read (No such file or directory)"
    )


CREDENTIALS = Deployment(
    targets={},
    credentials={
        "openai": (("OPENAI_API_KEY",),),
        "azure": (("AZURE_API_KEY", "AZURE_API_BASE"), ("AZURE_AD_TOKEN",)),
    },
)


@pytest.mark.parametrize(
    ("model", "environ", "missing"),
    [
        pytest.param("openai/gpt", {"OPENAI_API_KEY": "k"}, None, id="the one variable set"),
        pytest.param(
            "openai/gpt",
            {"OPENAI_API_KEY": ""},
            "no credentials: set OPENAI_API_KEY",
            id="an empty variable is not set",
        ),
        pytest.param(
            "azure/gpt",
            {"AZURE_API_KEY": "k"},
            "no credentials: set AZURE_API_KEY and AZURE_API_BASE or AZURE_AD_TOKEN",
            id="half of an alternative is not enough",
        ),
        pytest.param("azure/gpt", {"AZURE_AD_TOKEN": "t"}, None, id="the other alternative"),
        pytest.param("ollama/llama", {}, None, id="a prefix that needs no credentials"),
    ],
)
def test_missing_credentials(model: str, environ: dict[str, str], missing: str | None) -> None:
    assert CREDENTIALS.missing_credentials(Target(model), environ) == missing


def test_with_overrides__replaces_and_adds_targets_and_leaves_the_original(
    tmp_path: Path,
) -> None:
    original = _deployment(tmp_path, "routes: {m: {openai: openai/gpt-4.1}}")
    changed = original.with_overrides({"m/openai": "openai/gpt-4.1-mini", "n/groq": "groq/kimi"})
    assert changed.target("m/openai") == Target("openai/gpt-4.1-mini")
    assert changed.target("n/groq") == Target("groq/kimi")
    assert original.target("m/openai") == Target("openai/gpt-4.1")
    assert original.target("n/groq") is None
    assert changed.credentials == original.credentials


@pytest.mark.parametrize(
    ("key", "model"),
    [("m", "openai/gpt"), ("m/openai/x", "openai/gpt"), ("m/openai", "gpt")],
    ids=["a key without a provider", "a key with two slashes", "a model without a prefix"],
)
def test_with_overrides__refuses_a_malformed_override(key: str, model: str) -> None:
    with pytest.raises(ConfigError) as caught:
        CREDENTIALS.with_overrides({key: model})
    assert str(caught.value) == (
        f"route model override {key!r}: {model!r}: expected 'model-slug/provider-slug' "
        "mapped to a litellm model string like 'openai/gpt-4.1'"
    )


def test_targets__cannot_be_changed_in_place(tmp_path: Path) -> None:
    deployment = _deployment(tmp_path, "routes: {m: {openai: openai/gpt-4.1}}")
    with pytest.raises(TypeError):
        deployment.targets["m/openai"] = Target("x/y")  # type: ignore[index]


def test_shipped_deployment__declares_api_hosts_for_every_provider_it_reaches() -> None:
    deployment = load_deployment(REPO / "config" / "routes.yaml")
    assert set(deployment.hosts) == set(deployment.reaches)
    assert deployment.hosts["openai"] == ("api.openai.com",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("reaches: {openai: [openai]}\nhosts: {groq: [api.groq.com]}", "hosts: 'groq': not a provider under 'reaches'"),
        ("reaches: {openai: [openai]}\nhosts: {openai: ['https://api.openai.com']}", "hosts.openai.0: String should match pattern"),
        ("reaches: {openai: [openai]}\nhosts: {openai: ['*']}", "hosts.openai.0: String should match pattern"),
    ],
    ids=["a provider not reached", "a URL, not a host", "a bare wildcard"],
)  # fmt: skip
def test_load__hosts_are_validated(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _deployment(tmp_path, text)
    assert str(caught.value).startswith(f"{tmp_path / 'routes.yaml'}: {message}")


def test_target_prefix__made_once_follows_a_replace_and_takes_no_part_in_equality() -> None:
    import dataclasses

    target = Target("bedrock/anthropic.claude")
    assert target.prefix == "bedrock"
    assert dataclasses.replace(target, model="openai/gpt-4.1").prefix == "openai"
    assert Target("bedrock/anthropic.claude") == target
    assert hash(Target("bedrock/anthropic.claude")) == hash(target)
