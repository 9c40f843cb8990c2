"""The proxy's request and response bodies: OpenAI's shapes, plus the router's own fields.

``ChatCompletionRequest`` types the common fields for the OpenAPI document; every field, typed or
not, is then checked against the accepted request surface (router/_core/surface.py). Error
bodies (``ErrorResponse``) are built by ``router/_server/errors.py``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from router._settings import PrivacyFields


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat-completion request; ``model`` names a catalog model. The other fields of
    the accepted surface (README, "Accepted request surface") are accepted untyped."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, description="Display name, alias or slug of a model.")
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False
    user: str | None = Field(None, description="The end user; or the X-Router-User header.")
    privacy: PrivacyFields | None = Field(None, description="Tightens the policy for this call.")
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    seed: int | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    stream_options: dict[str, Any] | None = None
    reasoning_effort: str | None = None


class ChatCompletion(BaseModel):
    """OpenAI's chat completion, as the backend answered (``model`` is its upstream name)."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[dict[str, Any]]
    usage: dict[str, Any] | None = None


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    """OpenAI's error shape; a policy violation adds ``rejected`` and ``alternatives``, an
    outage ``attempts``."""

    error: ErrorDetail


class RouteInfo(BaseModel):
    """A route and its policy as enforced (unknowns at their strictest); the other fields of
    their plain data (``route``, ``notes``) are left out."""

    model_config = ConfigDict(extra="ignore")

    provider: str
    provider_name: str
    retention: str
    flagged_retention: str
    trains_on_api_data: bool | None
    user_identifier: str


class ModelEntry(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    name: str
    aliases: list[str]
    providers: list[str] = Field(description="Providers allowed for this caller, in order.")
    routes: list[RouteInfo]


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelEntry]


class StoredPreferences(BaseModel):
    user: str
    preferences: PrivacyFields


class Deleted(BaseModel):
    user: str
    deleted: bool


class Health(BaseModel):
    status: str
    catalog_version: str
    checks: dict[str, str] = Field(default_factory=dict)
    servable_routes: int | None = None
