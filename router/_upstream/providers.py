"""The providers the lean path reaches, one row each: how a litellm prefix's chat endpoint is
reached (URL, auth header, the renames it needs, whether it stores by default), and which
targets the lean path serves (router/_upstream/lean.py sends; router/_upstream/deployment.py
checks a deployment's choice of path against this table).

Anthropic's Messages API has a lean path of its own (router/_upstream/anthropic.py): a Messages
request to an ``anthropic/`` target goes out as it came (``serves_messages``); a plain JSON chat
request to Claude there is translated by the router (router/_upstream/chat_claude.py), any other
chat request to Claude takes litellm, which translates it once."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from router._errors import FailureKind, UpstreamFailure

if TYPE_CHECKING:
    from router._upstream.deployment import Target

Path = Literal["lean", "litellm"]

# Where a target with no path of its own goes when the lean path can serve it.
DEFAULT_PATH: Path = "lean"
# OpenAI models litellm sends to the Responses API (not chat completions): kept on litellm.
_RESPONSES_API: Final = re.compile(r"(^|/)(o\d+-pro|gpt-5(\.\d+)?-pro|gpt-5(\.\d+)?-codex|codex-)")
# OpenAI's reasoning models take max_completion_tokens; max_tokens is refused (400).
_REASONING: Final = re.compile(r"^(o\d+|gpt-5(?!-chat)|gpt-5\.\d+(?!-chat))")


@dataclass(frozen=True, slots=True)
class Provider:
    """How one litellm prefix's chat endpoint is reached."""

    base: str  # the base URL, or "env:NAME" for one read from the environment
    keys: tuple[str, ...]  # environment variables holding the key, first set wins
    path: str = "/chat/completions"
    header: str = "Authorization"  # "api-key": the key as it is; else "Bearer <key>"
    stores: bool = False  # keeps completions unless told store: false
    renames_reasoning: bool = False  # max_tokens -> max_completion_tokens on reasoning models
    query: str = ""

    def url(self, prefix: str, model: str, api_base: str | None) -> str:
        base = api_base or self.base
        if base.startswith("env:"):
            base = os.environ.get(base[4:], "")
            if not base:
                raise _config(f"{prefix}: config: no endpoint: set {self.base[4:]}", prefix)
        path = self.path.format(model=model)
        if path == "/models/chat/completions" and "services.ai.azure.com" not in base:
            path = "/chat/completions"  # Azure AI's other hosts: litellm's rule
        if not self.query:  # the environment is read for a query that names it (Azure's)
            return base.rstrip("/") + path
        query = self.query.format(
            api_version=os.environ.get("AZURE_API_VERSION") or AZURE_API_VERSION
        )
        return base.rstrip("/") + path + query

    def auth(self, prefix: str) -> tuple[str, str]:
        key = next((v for name in self.keys if (v := os.environ.get(name))), None)
        if key is None:
            raise UpstreamFailure(
                f"{prefix}: auth: no credentials: set {' or '.join(self.keys)}",
                kind=FailureKind.AUTH,
                status_code=None,
                provider=prefix,
            )
        return (self.header, key if self.header == "api-key" else f"Bearer {key}")


PROVIDERS: Final[Mapping[str, Provider]] = {
    "openai": Provider(
        "https://api.openai.com/v1", ("OPENAI_API_KEY",), stores=True, renames_reasoning=True
    ),
    "azure": Provider(
        "env:AZURE_API_BASE",
        ("AZURE_API_KEY",),
        path="/openai/deployments/{model}/chat/completions",
        header="api-key",
        stores=True,
        renames_reasoning=True,
        query="?api-version={api_version}",
    ),
    "azure_ai": Provider(
        "env:AZURE_AI_API_BASE", ("AZURE_AI_API_KEY",), path="/models/chat/completions"
    ),
    "mistral": Provider("https://api.mistral.ai/v1", ("MISTRAL_API_KEY",)),
    "nebius": Provider("https://api.studio.nebius.ai/v1", ("NEBIUS_API_KEY",)),
    "fireworks_ai": Provider(
        "https://api.fireworks.ai/inference/v1", ("FIREWORKS_AI_API_KEY", "FIREWORKS_API_KEY")
    ),
    "together_ai": Provider(
        "https://api.together.ai/v1",
        ("TOGETHERAI_API_KEY", "TOGETHER_AI_API_KEY", "TOGETHER_API_KEY"),
    ),
    "groq": Provider("https://api.groq.com/openai/v1", ("GROQ_API_KEY",)),
    "cerebras": Provider("https://api.cerebras.ai/v1", ("CEREBRAS_API_KEY",)),
    "deepinfra": Provider("https://api.deepinfra.com/v1/openai", ("DEEPINFRA_API_KEY",)),
    "xai": Provider("https://api.x.ai/v1", ("XAI_API_KEY",)),
}
AZURE_API_VERSION: Final = "2025-02-01-preview"  # litellm 1.104.0's default
ANTHROPIC_PREFIX: Final = "anthropic"
OPENAI_PREFIX: Final = "openai"


def can_serve(target: Target) -> bool:
    """Whether the lean path speaks this target's format (its prefix, not a Responses model)."""
    return target.prefix in PROVIDERS and not _RESPONSES_API.search(target.model)


def serves(target: Target) -> bool:
    """Whether this target's calls take the lean path: its own choice, else DEFAULT_PATH."""
    path = target.path or DEFAULT_PATH
    return path == "lean" and can_serve(target)


def serves_messages(target: Target, params: Mapping[str, object]) -> bool:
    """Whether a Messages request to this target goes out as it came (no translation): an
    ``anthropic/`` target on the lean path (its own choice, else DEFAULT_PATH) whose route
    fixes no params (a fixed ``reasoning_effort`` is litellm's to express as ``thinking``)."""
    return (
        target.prefix == ANTHROPIC_PREFIX and (target.path or DEFAULT_PATH) == "lean" and not params
    )


def is_responses_model(target: Target) -> bool:
    """Whether this is an OpenAI model that speaks only the Responses API (on ``openai/``)."""
    return target.prefix == OPENAI_PREFIX and bool(_RESPONSES_API.search(target.model))


def serves_responses(target: Target, params: Mapping[str, object]) -> bool:
    """Whether a Responses request to this target goes out as it came (no translation): an
    ``openai/`` Responses-API model on the lean path (its own choice, else DEFAULT_PATH) whose
    route fixes no params (a fixed ``reasoning_effort`` is litellm's to express)."""
    return is_responses_model(target) and (target.path or DEFAULT_PATH) == "lean" and not params


def can_take_lean(target: Target) -> bool:
    """Whether ``path: lean`` is a valid choice for this target: chat's table, Anthropic (its
    Messages requests), or OpenAI's Responses-API models (their Responses requests); the chat
    requests of the last two stay on litellm."""
    return can_serve(target) or target.prefix == ANTHROPIC_PREFIX or is_responses_model(target)


def _config(message: str, prefix: str) -> UpstreamFailure:
    return UpstreamFailure(message, kind=FailureKind.CONFIG, status_code=None, provider=prefix)
