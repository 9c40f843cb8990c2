"""Provider wire formats for tests: fake credentials, respx routes and canned responses.

Every provider prefix of ``config/routes.yaml`` has a ``Wire``: the host and path litellm
calls for it, and the response format it parses. ``mock_provider(respx_mock, prefix)``
mocks that endpoint with a canned reply (JSON, SSE stream or an error in the provider's
own error shape) and returns the respx route, whose ``calls`` hold the requests litellm
really built. ``use_fake_credentials(monkeypatch)`` makes every provider usable offline.

Measured with litellm 1.104.0; where litellm changes a URL or format, change it here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import httpx
import pytest
import respx

from router._upstream.deployment import Target, load_deployment
from tests._support.repo import REPO

CANNED_TEXT: Final = "canned reply from the mock"
STREAM_PIECES: Final = ("canned ", "reply ", "from the ", "mock")  # joined: CANNED_TEXT
SSE_HEADERS: Final = MappingProxyType({"content-type": "text/event-stream"})

FAKE_CREDENTIALS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "OPENAI_API_KEY": "sk-proj-fake-openai-0000000000000000",
        "AZURE_API_KEY": "fake-azure-key-00000000",
        "AZURE_API_BASE": "https://fake-azure.openai.azure.com",
        "AZURE_AI_API_KEY": "fake-azure-ai-key-00000000",
        "AZURE_AI_API_BASE": "https://fake-azure-ai.services.ai.azure.com",
        "ANTHROPIC_API_KEY": "sk-ant-fake-anthropic-0000000000",
        "AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKEFAKE",
        "AWS_SECRET_ACCESS_KEY": "fake-aws-secret-0000000000000000",
        "AWS_REGION_NAME": "us-east-1",
        "VERTEXAI_PROJECT": "fake-project",
        "VERTEXAI_LOCATION": "us-central1",
        "MISTRAL_API_KEY": "fake-mistral-key-00000000",
        "NEBIUS_API_KEY": "fake-nebius-key-00000000",
        "FIREWORKS_AI_API_KEY": "fake-fireworks-key-00000000",
        "TOGETHERAI_API_KEY": "fake-together-key-00000000",
        "GROQ_API_KEY": "fake-groq-key-00000000",
        "CEREBRAS_API_KEY": "fake-cerebras-key-00000000",
        "DEEPINFRA_API_KEY": "fake-deepinfra-key-00000000",
        "XAI_API_KEY": "fake-xai-key-00000000",
    }
)
# Read by litellm or botocore when set; a test must not pick up the developer's.
_OTHER_CREDENTIALS: Final = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "VERTEXAI_CREDENTIALS",
    "FIREWORKS_API_KEY",
    "TOGETHER_AI_API_KEY",
    "TOGETHER_API_KEY",
    "AZURE_API_VERSION",
    "OPENAI_BASE_URL",
    "OPENAI_API_BASE",
)
_VERTEX_BASE: Final = "litellm.llms.vertex_ai.vertex_llm_base.VertexBase"


@dataclass(frozen=True, slots=True)
class Wire:
    """Where litellm sends a provider's chat call, and in which format it talks."""

    host: str
    path: str  # a regular expression over the URL path
    format: str  # "openai", "anthropic", "bedrock" or "vertex"
    responses_path: str | None = None  # OpenAI's Responses API, litellm's choice for some models

    @property
    def paths(self) -> str:
        """A regular expression for every path of this provider that litellm may call."""
        return self.path if self.responses_path is None else f"{self.path}|{self.responses_path}"

    def is_responses_api(self, request: httpx.Request) -> bool:
        return self.responses_path is not None and bool(
            re.search(self.responses_path, request.url.path)
        )

    @property
    def streams_sse(self) -> bool:
        return self.format in ("openai", "anthropic")


WIRES: Final[Mapping[str, Wire]] = MappingProxyType(
    {
        "openai": Wire("api.openai.com", r"^/v1/chat/completions$", "openai", r"^/v1/responses$"),
        "azure": Wire(
            "fake-azure.openai.azure.com",
            r"^/openai/deployments/[^/]+/chat/completions$",
            "openai",
            r"^/openai/v1/responses$",
        ),
        "azure_ai": Wire(
            "fake-azure-ai.services.ai.azure.com", r"^/models/chat/completions$", "openai"
        ),
        "anthropic": Wire("api.anthropic.com", r"^/v1/messages$", "anthropic"),
        "bedrock": Wire(
            "bedrock-runtime.us-east-1.amazonaws.com", r"^/model/[^/]+/converse$", "bedrock"
        ),
        "vertex_ai": Wire(
            "us-central1-aiplatform.googleapis.com",
            r"^/v1/projects/fake-project/locations/us-central1/publishers/google/models/[^/]+:generateContent$",
            "vertex",
        ),
        "mistral": Wire("api.mistral.ai", r"^/v1/chat/completions$", "openai"),
        "nebius": Wire("api.studio.nebius.ai", r"^/v1/chat/completions$", "openai"),
        "fireworks_ai": Wire("api.fireworks.ai", r"^/inference/v1/chat/completions$", "openai"),
        "together_ai": Wire("api.together.ai", r"^/v1/chat/completions$", "openai"),
        "groq": Wire("api.groq.com", r"^/openai/v1/chat/completions$", "openai"),
        "cerebras": Wire("api.cerebras.ai", r"^/v1/chat/completions$", "openai"),
        "deepinfra": Wire("api.deepinfra.com", r"^/v1/openai/chat/completions$", "openai"),
        "xai": Wire("api.x.ai", r"^/v1/chat/completions$", "openai"),
    }
)
PREFIXES: Final = tuple(WIRES)
SSE_PREFIXES: Final = tuple(p for p, w in WIRES.items() if w.streams_sse)


def targets_by_prefix() -> dict[str, Target]:
    """One target of the deployment per litellm prefix: the first route that uses it."""
    deployment = load_deployment(REPO / "config" / "routes.yaml")
    found: dict[str, Target] = {}
    for target in deployment.targets.values():
        found.setdefault(target.prefix, target)
    return found


def all_targets() -> tuple[Target, ...]:
    """Every distinct target of the deployment, in file order."""
    deployment = load_deployment(REPO / "config" / "routes.yaml")
    return tuple({t.model: t for t in deployment.targets.values()}.values())


def use_fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every provider's credentials, fake; Vertex AI's token exchange patched away."""
    clear_credentials(monkeypatch)
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)

    async def token_async(*_: object, **__: object) -> tuple[str, str]:
        return "fake-vertex-token", FAKE_CREDENTIALS["VERTEXAI_PROJECT"]

    def token(*_: object, **__: object) -> tuple[str, str]:
        return "fake-vertex-token", FAKE_CREDENTIALS["VERTEXAI_PROJECT"]

    monkeypatch.setattr(f"{_VERTEX_BASE}._ensure_access_token_async", token_async)
    monkeypatch.setattr(f"{_VERTEX_BASE}._ensure_access_token", token)


def clear_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider credentials at all, whatever the developer's environment holds."""
    for name in (*FAKE_CREDENTIALS, *_OTHER_CREDENTIALS):
        monkeypatch.delenv(name, raising=False)


def mock_provider(
    respx_mock: respx.MockRouter,
    prefix: str,
    *,
    status: int = 200,
    stream: bool = False,
    error: str = "mocked failure",
) -> respx.Route:
    """Mock ``prefix``'s chat endpoints: a canned reply, or an error ``status``.

    With ``stream``, a request that asks for a stream gets SSE; one that does not gets JSON
    (litellm fakes the stream itself for Azure's o-series models). A call litellm sends to
    OpenAI's Responses API (``gpt-5-codex``, ``o3-pro``) gets a Responses API reply.
    """
    wire = WIRES[prefix]
    route = respx_mock.post(host=wire.host, path__regex=wire.paths)
    if status != 200:
        return route.mock(return_value=error_response(wire, status, error))
    return route.mock(side_effect=lambda request: _as_asked(wire, request, stream=stream))


def _as_asked(wire: Wire, request: httpx.Request, *, stream: bool) -> httpx.Response:
    if wire.is_responses_api(request):
        if stream and json.loads(request.content).get("stream"):
            return httpx.Response(200, headers=SSE_HEADERS, content=responses_sse_body())
        return httpx.Response(200, json=responses_reply())
    if stream and json.loads(request.content).get("stream"):
        return sse_response(wire)
    return httpx.Response(200, json=reply(wire))


def responses_reply(text: str = CANNED_TEXT) -> dict[str, Any]:
    """A successful body of OpenAI's Responses API (``POST /v1/responses``)."""
    return {
        "id": "resp_canned",
        "object": "response",
        "created_at": 1_700_000_000,
        "status": "completed",
        "model": "canned-model",
        "output": [
            {
                "type": "message",
                "id": "msg_canned",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": 3,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 4,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 7,
        },
    }


def responses_sse_body(pieces: tuple[str, ...] = STREAM_PIECES) -> bytes:
    """The events of a streamed answer of OpenAI's Responses API, numbered as OpenAI numbers
    them (``sequence_number``), ``response`` objects naming the provider's model."""
    done = responses_reply("".join(pieces))
    started = done | {"status": "in_progress", "output": [], "usage": None}
    item = {"type": "message", "id": "msg_canned", "status": "in_progress", "role": "assistant",
            "content": []}  # fmt: skip
    bodies: list[dict[str, Any]] = [
        {"type": "response.created", "response": started},
        {"type": "response.in_progress", "response": started},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        *(
            {
                "type": "response.output_text.delta",
                "item_id": "msg_canned",
                "output_index": 0,
                "content_index": 0,
                "delta": piece,
            }
            for piece in pieces
        ),
        {"type": "response.output_item.done", "output_index": 0, "item": done["output"][0]},
        {"type": "response.completed", "response": done},
    ]
    return "".join(
        f"event: {b['type']}\ndata: {json.dumps(b | {'sequence_number': i})}\n\n"
        for i, b in enumerate(bodies)
    ).encode()


def reply(wire: Wire, text: str = CANNED_TEXT) -> dict[str, Any]:
    """A successful non-streaming response body in the wire's format."""
    if wire.format == "anthropic":
        return {
            "id": "msg_canned",
            "type": "message",
            "role": "assistant",
            "model": "canned-model",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 3, "output_tokens": 4},
        }
    if wire.format == "bedrock":
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 3, "outputTokens": 4, "totalTokens": 7},
            "metrics": {"latencyMs": 1},
        }
    if wire.format == "vertex":
        return {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": text}]},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 3,
                "candidatesTokenCount": 4,
                "totalTokenCount": 7,
            },
            "modelVersion": "canned-model",
        }
    return {
        "id": "chatcmpl-canned",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "canned-model",
        "service_tier": "on_demand",  # Groq's litellm config reads it; others ignore it
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }


def tool_call_reply(call_id: str, name: str, arguments: str = "{}") -> dict[str, Any]:
    """An OpenAI-format chat completion that asks for one function call."""
    call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    return reply(WIRES["openai"]) | {
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]
    }


def sse_response(wire: Wire, pieces: tuple[str, ...] = STREAM_PIECES) -> httpx.Response:
    """A streamed reply (Server-Sent Events) in the wire's format."""
    return httpx.Response(200, headers=SSE_HEADERS, content=sse_body(wire, pieces))


def sse_body(
    wire: Wire, pieces: tuple[str, ...] = STREAM_PIECES, usage: dict[str, int] | None = None
) -> bytes:
    """The events of a streamed reply in the wire's format, ``pieces`` as text deltas; with
    ``usage``, OpenAI's final usage chunk (``choices: []``), as sent when a caller asks for it
    with ``stream_options.include_usage``."""
    if wire.format == "anthropic":
        return "".join(_anthropic_events(pieces)).encode()
    return "".join(_openai_events(pieces, usage)).encode()


def _openai_events(pieces: tuple[str, ...], usage: dict[str, int] | None) -> Iterator[str]:
    def chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
        body = {
            "id": "chatcmpl-canned",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": "canned-model",
            "choices": choices,
        }
        return f"data: {json.dumps(body | extra)}\n\n"

    def delta(content: dict[str, str], finish: str | None = None) -> str:
        return chunk([{"index": 0, "delta": content, "finish_reason": finish}])

    yield delta({"role": "assistant", "content": ""})
    for piece in pieces:
        yield delta({"content": piece})
    yield delta({}, "stop")
    if usage is not None:
        yield chunk([], usage=usage)
    yield "data: [DONE]\n\n"


def _anthropic_events(pieces: tuple[str, ...]) -> Iterator[str]:
    def event(name: str, body: dict[str, Any]) -> str:
        return f"event: {name}\ndata: {json.dumps({'type': name, **body})}\n\n"

    message = reply(WIRES["anthropic"], "") | {"content": [], "stop_reason": None}
    yield event("message_start", {"message": message})
    yield event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
    for piece in pieces:
        yield event(
            "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}}
        )
    yield event("content_block_stop", {"index": 0})
    yield event(
        "message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 4}}
    )
    yield event("message_stop", {})


def error_response(wire: Wire, status: int, message: str) -> httpx.Response:
    """An error in the provider's own error shape."""
    if wire.format == "anthropic":
        body: dict[str, Any] = {"type": "error", "error": {"type": "api_error", "message": message}}
        return httpx.Response(status, json=body)
    if wire.format == "bedrock":
        return httpx.Response(
            status, json={"message": message}, headers={"x-amzn-ErrorType": "MockedException"}
        )
    if wire.format == "vertex":
        return httpx.Response(
            status, json={"error": {"code": status, "message": message, "status": "MOCKED"}}
        )
    return httpx.Response(
        status, json={"error": {"message": message, "type": "mocked_error", "code": str(status)}}
    )


def wire_text(request: httpx.Request) -> str:
    """Everything of a request that goes on the wire, as one string to search."""
    headers = "\n".join(f"{k}: {v}" for k, v in request.headers.multi_items())
    return (
        f"{request.method} {request.url}\n{headers}\n\n{request.content.decode('utf-8', 'replace')}"
    )


def places(request: httpx.Request, value: str) -> set[str]:
    """Where ``value`` occurs in a request: ``url``, ``header:<name>``, or ``$.json.path``."""
    found = {"url"} if value in str(request.url) else set()
    found |= {f"header:{k.lower()}" for k, v in request.headers.multi_items() if value in v}
    try:
        body = json.loads(request.content or b"null")
    except ValueError:
        return found | ({"body"} if value.encode() in request.content else set())
    return found | set(_json_places(body, value, "$"))


def _json_places(node: Any, value: str, path: str) -> Iterator[str]:
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _json_places(child, value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _json_places(child, value, f"{path}[{i}]")
    elif isinstance(node, str) and value in node:
        yield path
