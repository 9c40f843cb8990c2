"""Models and names: provider ids as catalog aliases (and their load-time conflicts),
``GET /v1/models/{id}``, and the ``model`` a response names (the caller's) with the route in
headers, streams too; the usage chunk of a stream has no choices, as OpenAI sends it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import httpx
import openai
import pytest
from typer.testing import CliRunner

from router._catalog_tools.dump import catalog_to_yaml
from router._core.catalog_load import load_catalog, parse_catalog
from router._errors import CatalogError
from router.cli import app as cli_app
from tests._support.proxy import ADMIN_KEY, Proxy, auth, chat, proxy, put_prefs
from tests._support.repo import CURRENT_CATALOG

SMALL = """\
version: "t"
effective: 2025-11-20
providers:
  cerebras: {name: Cerebras}
  mistral: {name: Mistral}
models:
  m: {name: M}
  n: {name: N, aliases: [Enn]}
routes:
  - models: [m, n]
    providers: [cerebras, mistral]
    policy: {trains_on_api_data: false, retention: none}
"""


def _problems(text: str) -> tuple[str, ...]:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text)
    return caught.value.problems


def _with_ids(ids: str) -> str:
    return SMALL + "    provider_ids:\n" + ids


# --- provider ids in the catalog ----------------------------------------------------------


def test_provider_ids__resolve_to_their_catalog_model_in_any_case() -> None:
    catalog = parse_catalog(
        _with_ids("      m/cerebras: [vendor/m-0905]\n      m/mistral: [M-Large, vendor/m-0905]\n")
    )
    assert catalog.model("vendor/M-0905").slug == "m"
    assert catalog.model("m-large").slug == "m"
    by_key = {r.key: r.provider_ids for r in catalog.routes}
    assert by_key["m/cerebras"] == ("vendor/m-0905",)
    assert by_key["n/cerebras"] == ()


def test_provider_ids__the_shipped_catalog_knows_openai_and_bedrock_ids() -> None:
    catalog = load_catalog(CURRENT_CATALOG)
    assert catalog.model("gpt-4.1").slug == "gpt-4-1"
    assert catalog.model("gpt-4.1-2025-04-14").slug == "gpt-4-1"
    assert catalog.model("us.anthropic.claude-sonnet-4-5-20250929-v1:0").slug == "claude-4-5-sonnet"


@pytest.mark.parametrize(
    ("ids", "problem"),
    [
        pytest.param(
            "      m/cerebras: [shared-id]\n      n/mistral: [shared-id]\n",
            "<catalog>: routes[0].provider_ids.n/mistral[0]: 'shared-id' also belongs to model "
            "'m' (route m/cerebras); an id may lead to one model only",
            id="an id of two models",
        ),
        pytest.param(
            "      m/cerebras: [enn]\n",
            "<catalog>: routes[0].provider_ids.m/cerebras[0]: 'enn' is already a name, alias or "
            "slug of model 'n'; an id may lead to one model only",
            id="an id that is another model's alias",
        ),
        pytest.param(
            "      m/openai: [x]\n",
            "<catalog>: routes[0].provider_ids.m/openai: not a route of this entry; name one as "
            "'model/provider' (m/cerebras, m/mistral, n/cerebras, n/mistral)",
            id="a key that is no route of the entry",
        ),
    ],
)
def test_provider_ids__conflicts_are_load_time_errors(ids: str, problem: str) -> None:
    assert _problems(_with_ids(ids)) == (problem,)


def test_provider_ids__an_id_of_one_model_on_two_routes_is_fine() -> None:
    catalog = parse_catalog(_with_ids("      m/cerebras: [same]\n      m/mistral: [same]\n"))
    assert catalog.model("same").slug == "m"


def test_provider_ids__survive_a_dump_and_reload() -> None:
    catalog = load_catalog(CURRENT_CATALOG)
    again = parse_catalog(catalog_to_yaml(catalog))
    assert {r.key: r.provider_ids for r in again.routes} == {
        r.key: r.provider_ids for r in catalog.routes
    }


def test_catalog_validate__reports_a_conflicting_id(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(_with_ids("      m/cerebras: [shared-id]\n      n/mistral: [shared-id]\n"))
    result = CliRunner().invoke(cli_app, ["catalog", "validate", str(path)])
    assert result.exit_code == 1
    assert "'shared-id' also belongs to model 'm'" in result.stderr


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Proxy]:
    async with proxy(tmp_path) as running:
        yield running


@pytest.fixture
def http(served: Proxy) -> httpx.AsyncClient:
    return served.http


@pytest.fixture
def sdk(served: Proxy) -> openai.AsyncOpenAI:
    return served.sdk()


# --- GET /v1/models/{id} ------------------------------------------------------------------


@pytest.mark.parametrize("asked", ["gpt-4-1", "GPT 4.1", "gpt-4.1"])
async def test_retrieve__by_any_name_gives_the_catalog_model(
    http: httpx.AsyncClient, asked: str
) -> None:
    response = await http.get(f"/v1/models/{quote(asked)}", headers=auth())
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["object"], body["owned_by"]) == ("gpt-4-1", "model", "policy-router")
    assert body["providers"] == ["openai", "azure"]


async def test_retrieve__openai_sdk(sdk: openai.AsyncOpenAI) -> None:
    model = await sdk.models.retrieve("gpt-4.1")
    assert model.id == "gpt-4-1"


async def test_retrieve__unknown_is_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/models/gpt-99", headers=auth())
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


async def test_retrieve__filtered_by_the_user_like_the_list(http: httpx.AsyncClient) -> None:
    await put_prefs(http, "olga", deny_providers=["openai", "azure"])
    for query, headers in (("?user=olga", auth()), ("", auth() | {"X-Router-User": "olga"})):
        response = await http.get(f"/v1/models/gpt-4.1{query}", headers=headers)
        assert response.status_code == 404
        assert "has no route allowed" in response.json()["error"]["message"]
    listed = await http.get("/v1/models?user=olga", headers=auth())
    assert "gpt-4-1" not in {m["id"] for m in listed.json()["data"]}
    assert (await http.get("/v1/models/gpt-4.1", headers=auth(ADMIN_KEY))).status_code == 200


# --- the model a response names -----------------------------------------------------------


async def test_chat__model_is_the_name_asked_and_the_route_in_headers(
    sdk: openai.AsyncOpenAI,
) -> None:
    raw = await sdk.chat.completions.with_raw_response.create(
        model="gpt-4.1", messages=[{"role": "user", "content": "Hi"}]
    )
    assert raw.parse().model == "gpt-4.1"
    assert raw.headers["x-router-route"] == "gpt-4-1/openai"
    assert raw.headers["x-router-provider"] == "openai"


async def test_stream__chunks_name_the_model_asked_headers_carry_the_route_usage_has_no_choices(
    http: httpx.AsyncClient,
) -> None:
    body = chat(model="GPT 4.1", stream=True, stream_options={"include_usage": True})
    response = await http.post("/v1/chat/completions", json=body, headers=auth())
    assert response.headers["x-router-route"] == "gpt-4-1/openai"
    assert response.headers["x-router-provider"] == "openai"
    events = [e.removeprefix("data: ") for e in response.text.split("\n\n") if e]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert {c["model"] for c in chunks} == {"GPT 4.1"}
    usage = chunks[-1]
    assert usage["choices"] == []
    assert usage["usage"]["total_tokens"] > 0
    assert all(c["choices"] for c in chunks[:-1])
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


async def test_stream__openai_sdk_reads_the_usage_chunk(sdk: openai.AsyncOpenAI) -> None:
    stream = await sdk.chat.completions.create(
        model="gpt-4.1",
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert {c.model for c in chunks} == {"gpt-4.1"}
