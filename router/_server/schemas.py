"""The proxy's request and response bodies: OpenAI's shapes, plus the router's own fields.

``ChatCompletionRequest`` types the common fields for the OpenAPI document; every field, typed or
not, is then checked against the accepted request surface (router/_core/surface.py). Error
bodies (``ErrorResponse``) are built by ``router/_server/errors.py``.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from router._config.settings import PrivacyFields as _SettingsPrivacy


class PrivacyFields(_SettingsPrivacy):
    """Preference fields in a request body: JSON types as documented (no 0 for false)."""

    model_config = ConfigDict(strict=True)


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat-completion request; ``model`` names a catalog model. The other fields of
    the accepted surface (README, "Accepted request surface") are accepted untyped."""

    model_config = ConfigDict(extra="allow", strict=True)  # JSON types as documented

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

    @model_validator(mode="before")
    @classmethod
    def _integral_numbers(cls, data: Any) -> Any:
        """JSON has one number type and JSON Schema calls 1.0 an integer; strict mode would not."""
        if not isinstance(data, dict):
            return data
        return {k: integral(v) if k in _INTEGERS else v for k, v in data.items()}


_INTEGERS: Final = frozenset({"n", "max_tokens", "max_completion_tokens", "top_logprobs", "seed"})


def integral(value: Any) -> Any:
    """``value`` as an int if it is a float with an integral value (1.0, 1e3), else as it is."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


class ChatCompletion(BaseModel):
    """OpenAI's chat completion, as the backend answered; ``model`` is the name asked for."""

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


class WithoutEffect(BaseModel):
    field: str
    stored: Any
    operator: Any
    reason: str


class PreferenceReport(BaseModel):
    """A user's stored preferences, the effective ones under the operator's policy, and the
    stored fields that change nothing because the operator's policy is as strict or stricter."""

    user: str
    preferences: PrivacyFields = Field(description="As stored.")
    effective: PrivacyFields = Field(
        description="The operator's policy tightened by the stored preferences (a request's "
        "own privacy object may tighten them further)."
    )
    without_effect: list[WithoutEffect]


class UserPage(BaseModel):
    object: Literal["list"] = "list"
    data: list[str] = Field(description="Users with stored preferences, sorted.")
    has_more: bool
    last: str | None = Field(description="Pass as ?after= for the next page.")


class Deleted(BaseModel):
    user: str
    deleted: bool


class Health(BaseModel):
    status: str
    catalog_version: str
    checks: dict[str, str] = Field(default_factory=dict)
    servable_routes: int | None = None
