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


def test_unknown_model__names_the_model_what_to_do_and_at_most_five_known() -> None:
    error = UnknownModel("GPT 9", ["a", "b", "c", "d", "e", "f"])
    assert error.name == "GPT 9"
    assert str(error) == (
        "unknown model 'GPT 9': name a model of the catalog by display name, alias or slug "
        "(see 'policy-router models'); known models include a, b, c, d, e"
    )
    assert str(UnknownModel("GPT 9")).endswith("(see 'policy-router models')")


def test_unknown_provider__names_the_provider_and_every_known_one() -> None:
    error = UnknownProvider("gogle", ["google", "groq"])
    assert error.name == "gogle"
    assert str(error) == (
        "unknown provider 'gogle': name a provider by display name or slug (known: google, groq)"
    )
    assert str(UnknownProvider("gogle")) == (
        "unknown provider 'gogle': name a provider by display name or slug"
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
