"""The proxy's response bodies and the preference bodies of its admin endpoints.

The four POST endpoints' request bodies are not declared here: they are the request surface
tables (router/_core/surface.py, responses.py, messages.py), from which the OpenAPI document
is generated (router/_server/openapi.py). Error bodies (``ErrorResponse``) are built by
``router/_server/errors.py``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from router._config.settings import PrivacyFields as _SettingsPrivacy


class PrivacyFields(_SettingsPrivacy):
    """Preference fields in a request body: JSON types as documented (no 0 for false)."""

    model_config = ConfigDict(strict=True)


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
