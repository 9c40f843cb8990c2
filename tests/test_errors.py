"""The error tree: one root, the tree its docstring draws, and each message's wording."""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest

import router
from router import Preferences, _errors, decide, load_catalog
from router._errors import (
    BackendUnavailable,
    CatalogError,
    FailureKind,
    PolicyViolation,
    RequestRejected,
    RouterError,
    UnknownModel,
    UnknownProvider,
    UpstreamFailure,
)
from tests._support.repo import CURRENT_CATALOG

ERRORS = {
    name: cls
    for name, cls in vars(_errors).items()
    if inspect.isclass(cls) and issubclass(cls, Exception) and cls.__module__ == _errors.__name__
}


def _drawn_tree() -> dict[str, str]:
    """Each error the module docstring draws, mapped to the error drawn as its parent."""
    parents: dict[str, str] = {}
    path = ["RouterError"]
    for found in re.finditer(r"^((?:[│ ]   )*)[├└]── (\w+)", _errors.__doc__ or "", re.M):
        depth = len(found[1]) // 4 + 1
        del path[depth:]
        parents[found[2]] = path[-1]
        path.append(found[2])
    return parents


def test_tree__every_error_has_the_one_root() -> None:
    assert set(ERRORS) - {"RouterError"}
    for name, cls in ERRORS.items():
        assert issubclass(cls, RouterError), name


def test_tree__the_docstring_draws_exactly_the_errors_defined_under_their_parents() -> None:
    assert "\nRouterError\n" in (_errors.__doc__ or "")
    drawn = _drawn_tree()
    assert sorted(["RouterError", *drawn]) == sorted(ERRORS)
    assert {name: ERRORS[name].__bases__[0].__name__ for name in drawn} == drawn


def test_tree__the_errors_below_the_root_are_public() -> None:
    for name, parent in _drawn_tree().items():
        if parent == "RouterError":
            assert name in router.__all__, name
            assert getattr(router, name) is ERRORS[name]


@pytest.mark.parametrize(
    ("name", "builtin"),
    [
        ("InvalidPreferences", ValueError),
        ("InvalidRequest", ValueError),
        ("UnknownModel", LookupError),
        ("UnknownProvider", LookupError),
    ],
)
def test_tree__errors_that_are_also_a_builtin_say_so(name: str, builtin: type) -> None:
    assert issubclass(ERRORS[name], builtin)
    assert f"(also {builtin.__name__})" in (_errors.__doc__ or "")


def test_catalog_error__one_problem() -> None:
    error = CatalogError(["a.yaml: models.x: no route serves this model"])
    assert error.problems == ("a.yaml: models.x: no route serves this model",)
    assert str(error) == "the catalog is invalid:\n  - a.yaml: models.x: no route serves this model"


def test_catalog_error__counts_several_problems() -> None:
    error = CatalogError(["first", "second"])
    assert str(error) == "the catalog is invalid (2 problems):\n  - first\n  - second"


def test_unknown_model__says_what_to_do_and_the_closest_names_never_the_callers_text() -> None:
    error = UnknownModel("GPT 9", ["GPT 5", "GPT 4.1"])
    assert error.name == "GPT 9"
    assert error.suggestions == ("GPT 5", "GPT 4.1")
    assert str(error) == (
        "unknown model (a name of 5 characters): name a model of the catalog by display name, "
        "alias, slug, a provider's model id, or a litellm model string such as "
        "'openai/gpt-4.1' (see 'policy-router models'); closest catalog names: GPT 5, GPT 4.1"
    )
    assert str(UnknownModel("GPT 9")).endswith("(see 'policy-router models')")
    assert "GPT 9" not in str(UnknownModel("GPT 9", reason="why"))


def test_unknown_provider__names_the_field_the_closest_and_every_known_one() -> None:
    error = UnknownProvider("gogle", ["google", "groq"], field="deny_providers",
                            suggestions=["google"])  # fmt: skip
    assert error.name == "gogle"
    assert str(error) == (
        "unknown provider in 'deny_providers' (a name of 5 characters): name a provider by display name or slug; "
        "did you mean 'google'? (known: google, groq)"
    )
    assert str(UnknownProvider("gogle")) == (
        "unknown provider (a name of 5 characters): name a provider by display name or slug"
    )


def _refused(model: str, **preferences: Any) -> Any:
    catalog = load_catalog(CURRENT_CATALOG)
    return decide(catalog.model(model), catalog.routes_of(model), Preferences(**preferences))


def test_policy_violation__names_each_rejected_provider_its_reasons_and_alternatives() -> None:
    decision = _refused("Grok 4", max_retention="24h")
    error = PolicyViolation(decision, ["Gemini 2.5 Flash", "Gemini 2.5 Pro"])
    assert (error.decision, error.alternatives) == (
        decision,
        ("Gemini 2.5 Flash", "Gemini 2.5 Pro"),
    )
    assert str(error) == (
        "no route of 'Grok 4' is allowed by the privacy policy "
        "(xAI: it keeps API data for 30 days, but max_retention allows at most 24 hours). "
        "Models allowed under the same preferences: Gemini 2.5 Flash, Gemini 2.5 Pro."
    )


def test_policy_violation__says_so_when_no_model_is_allowed() -> None:
    error = PolicyViolation(_refused("Grok 4", max_retention="24h"), [])
    assert str(error).endswith(" No model of the catalog is allowed under these preferences.")


def test_backend_unavailable__lists_every_attempt() -> None:
    error = BackendUnavailable("Kimi K2", ["Groq: timeout", "Nebius: server"])
    assert error.attempts == ("Groq: timeout", "Nebius: server")
    assert str(error) == "every allowed route of 'Kimi K2' failed: Groq: timeout; Nebius: server"
    assert str(BackendUnavailable("Kimi K2", [])) == (
        "every allowed route of 'Kimi K2' failed: no route was tried"
    )


def test_request_rejected__keeps_status_provider_and_message() -> None:
    error = RequestRejected("groq: bad request (400)", status_code=400, provider="groq")
    assert (str(error), error.status_code, error.provider) == (
        "groq: bad request (400)",
        400,
        "groq",
    )
    assert (RequestRejected("no").status_code, RequestRejected("no").provider) == (None, "")


@pytest.mark.parametrize("kind", list(FailureKind))
def test_upstream_failure__only_an_exhausted_budget_is_not_worth_another_route(
    kind: FailureKind,
) -> None:
    error = UpstreamFailure("groq: failed", kind=kind, status_code=None, provider="groq")
    assert error.retryable is (kind is not FailureKind.BUDGET)
    assert (error.kind, error.provider, str(error)) == (kind, "groq", "groq: failed")


# --- the error table: each class's outside, declared once ----------------------------------

TABLE = (
    "http_status",
    "error_code",
    "openai_type",
    "anthropic_type",
    "litellm_class",
    "metric_outcome",
    "metric_reason",
)
ANTHROPIC_TYPES = {  # Anthropic's documented error types
    "invalid_request_error", "authentication_error", "permission_error", "not_found_error",
    "request_too_large", "rate_limit_error", "api_error", "overloaded_error",
}  # fmt: skip
OUTCOMES = {"refused", "blocked", "rejected", "failed"}


def _subclasses(cls: type[RouterError]) -> list[type[RouterError]]:
    return [cls] + [s for sub in cls.__subclasses__() for s in _subclasses(sub)]


EVERY_ERROR = [c for c in _subclasses(RouterError) if c.__module__ == _errors.__name__]


def test_table__every_router_error_is_enumerated() -> None:
    assert sorted(c.__name__ for c in EVERY_ERROR) == sorted(ERRORS)


@pytest.mark.parametrize("cls", EVERY_ERROR, ids=lambda c: c.__name__)
def test_table__every_class_declares_every_attribute_itself(cls: type[RouterError]) -> None:
    assert [name for name in TABLE if name not in vars(cls)] == []
    assert 400 <= cls.http_status <= 599
    assert re.fullmatch(r"[a-z]+(_[a-z]+)*", cls.error_code)
    assert cls.openai_type in {"invalid_request_error", "permission_error", "server_error"}
    assert cls.anthropic_type in ANTHROPIC_TYPES
    assert cls.metric_outcome in OUTCOMES
    assert (cls.metric_reason is not None) is (cls.metric_outcome == "refused")


@pytest.mark.parametrize("cls", EVERY_ERROR, ids=lambda c: c.__name__)
def test_table__the_litellm_class_carries_the_proxys_status(cls: type[RouterError]) -> None:
    """A drop-in caller's ``status_code`` and class are what an openai client meets through
    the proxy; the operator's errors (no class) are the proxy's 500."""
    from router._upstream import compat
    from router._upstream.setup import _module

    if cls.litellm_class is None:
        assert cls.http_status == 500
        return
    litellm_class = getattr(_module().exceptions, cls.litellm_class)
    assert isinstance(litellm_class, type)
    assert issubclass(litellm_class, Exception)
    assert compat._BUILDABLE[cls.litellm_class] == cls.http_status


@pytest.mark.parametrize("cls", EVERY_ERROR, ids=lambda c: c.__name__)
def test_table__the_anthropic_type_is_anthropics_for_the_status(cls: type[RouterError]) -> None:
    from router._server.errors import anthropic_type

    assert cls.anthropic_type == anthropic_type(cls.http_status)


@pytest.mark.parametrize("cls", EVERY_ERROR, ids=lambda c: c.__name__)
def test_table__the_proxy_and_the_metrics_read_it(cls: type[RouterError]) -> None:
    from router._observe.metrics import outcome_of
    from router._server.errors import api_error

    error = Exception.__new__(cls)  # the table is the class's: no instance state is read
    Exception.__init__(error, "x")
    assert outcome_of(error) == (cls.metric_outcome, cls.metric_reason)
    if cls in (RouterError, CatalogError) or not _details_need_state(cls):
        answer = api_error(error)
        assert (answer.status, answer.error["code"], answer.error["type"]) == (
            cls.http_status,
            cls.error_code,
            cls.openai_type,
        )
        assert answer.anthropic()["error"]["type"] == cls.anthropic_type


def _details_need_state(cls: type[RouterError]) -> bool:
    return issubclass(cls, PolicyViolation | BackendUnavailable | UpstreamFailure)


def _attempt(outcome: str, status_code: int | None, retry_after: float | None = None) -> Any:
    from router._pipeline.failover import Attempt

    catalog = load_catalog(CURRENT_CATALOG)
    route = catalog.routes_of(catalog.model("Kimi K2"))[0]
    return Attempt(route, outcome, "", status_code, 0.0, retry_after)


@pytest.mark.parametrize(
    ("status", "litellm_class", "proxy_status"),
    [
        (400, "BadRequestError", 400), (413, "BadRequestError", 413),
        (422, "UnprocessableEntityError", 422), (401, "AuthenticationError", 503),
        (403, "PermissionDeniedError", 503), (404, "NotFoundError", 503),
        (408, "Timeout", 503), (429, "RateLimitError", 429), (500, "InternalServerError", 503),
        (502, "BadGatewayError", 503), (503, "ServiceUnavailableError", 503),
        (504, "ServiceUnavailableError", 503),
    ],
)  # fmt: skip
def test_table__upstream_statuses_agree_with_the_errors_they_become(
    status: int, litellm_class: str, proxy_status: int
) -> None:
    """router/_upstream/errors.py's table of provider statuses, through our errors: a refused
    request keeps the provider's status; every route failing answers 503, but 429 when the
    last was rate-limited (so ``except openai.RateLimitError`` fires through the proxy)."""
    from router._upstream import compat
    from router._upstream.errors import failure_for_status

    error = failure_for_status(status, "detail", "groq")
    if isinstance(error, RequestRejected):
        answer = error
    else:
        assert isinstance(error, UpstreamFailure)
        answer = BackendUnavailable("Kimi K2", [_attempt(error.kind, status)])
    assert (answer.litellm_class, answer.http_status) == (litellm_class, proxy_status)
    if status in compat._BUILDABLE.values():
        assert compat._BUILDABLE[litellm_class] == status


def test_table__a_rate_limited_last_attempt_is_a_429_with_the_providers_wait() -> None:
    from router._server.errors import api_error

    error = BackendUnavailable(
        "Kimi K2", [_attempt("server", 500), _attempt("rate_limit", 429, 2.2)]
    )
    answer = api_error(error)
    assert (answer.status, answer.error["code"], answer.headers) == (
        429,
        "backends_unavailable",
        {"retry-after": "3"},
    )
    assert answer.anthropic()["error"]["type"] == "rate_limit_error"
    quiet = api_error(BackendUnavailable("Kimi K2", [_attempt("rate_limit", 429)]))
    assert (quiet.status, quiet.headers) == (429, {})
    earlier = api_error(
        BackendUnavailable("Kimi K2", [_attempt("rate_limit", 429, 9), _attempt("server", 500)])
    )
    assert (earlier.status, earlier.headers) == (503, {})


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"retry-after-ms": "2500", "retry-after": "9"}, 2.5),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-3"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
        ({}, None),
        (None, None),
    ],
    ids=["seconds", "any case, a fraction", "milliseconds first", "not a number",
         "negative", "infinite", "a date past", "none", "no headers"],
)  # fmt: skip
def test_retry_after__reads_the_providers_header(
    headers: dict[str, str] | None, seconds: float | None
) -> None:
    from router._upstream.errors import retry_after

    assert retry_after(headers) == seconds
