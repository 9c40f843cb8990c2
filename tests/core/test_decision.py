"""The decision as a table: one row per case, each id a sentence."""

from __future__ import annotations

import pytest

from router import DataPolicy, Preferences, load_catalog
from router._core.catalog import Catalog, Model, Provider, Route
from router._core.decision import decide, reasons_against
from router._core.duration import Duration
from tests._support.repo import CURRENT_CATALOG


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(CURRENT_CATALOG)


def _route(**policy: object) -> Route:
    return Route(Model("m", "M"), Provider("p", "Provider P"), DataPolicy(**policy))  # type: ignore[arg-type]


THIRTY_DAYS = Duration.parse("30d")
NONE = Duration.parse("none")

REASON_CASES = [
    pytest.param(
        _route(trains_on_api_data=False, retention=THIRTY_DAYS),
        Preferences(max_retention="none"),
        ("it keeps API data for 30 days, but max_retention allows no storage",),
        id="a 30-day route is rejected for a user who wants nothing stored",
    ),
    pytest.param(
        _route(trains_on_api_data=False, retention=NONE),
        Preferences(max_retention="none"),
        (),
        id="a route that stores nothing is allowed for a user who wants nothing stored",
    ),
    pytest.param(
        _route(trains_on_api_data=False, retention=THIRTY_DAYS),
        Preferences(max_retention="30d"),
        (),
        id="retention equal to the limit is allowed",
    ),
    pytest.param(
        _route(trains_on_api_data=False),
        Preferences(max_retention="2y"),
        (
            "it keeps API data with no time limit (not stated in the catalog), but max_retention allows at most 2 years",
        ),
        id="unstated retention counts as unlimited",
    ),
    pytest.param(
        _route(trains_on_api_data=False, retention=NONE),
        Preferences(allow_training=False),
        (),
        id="a route that does not train is allowed when training is not",
    ),
    pytest.param(
        _route(trains_on_api_data=True, retention=NONE),
        Preferences(allow_training=False),
        ("it trains on API data, and allow_training is false",),
        id="a route that trains is rejected when training is not allowed",
    ),
    pytest.param(
        _route(retention=NONE),
        Preferences(allow_training=False),
        ("it may train on API data (not stated in the catalog), and allow_training is false",),
        id="unstated training counts as training",
    ),
    pytest.param(
        _route(trains_on_api_data=True, retention=NONE),
        Preferences(),
        (),
        id="with no preference stated, training is not a reason to reject",
    ),
    pytest.param(
        _route(
            trains_on_api_data=False, retention=THIRTY_DAYS, flagged_retention=Duration.parse("2y")
        ),
        Preferences(max_retention="30d", allow_flagged_retention=False),
        (
            "it keeps flagged content for 2 years, longer than 30 days, and allow_flagged_retention is false",
        ),
        id="flagged content kept 2 years is rejected when flagged retention is not allowed",
    ),
    pytest.param(
        _route(
            trains_on_api_data=False, retention=THIRTY_DAYS, flagged_retention=Duration.parse("2y")
        ),
        Preferences(max_retention="30d", allow_flagged_retention=True),
        (),
        id="flagged content kept 2 years is allowed when flagged retention is allowed",
    ),
    pytest.param(
        _route(trains_on_api_data=False, retention=THIRTY_DAYS),
        Preferences(allow_flagged_retention=False),
        (),
        id="a route with no longer flagged retention passes the flagged check",
    ),
    pytest.param(
        _route(trains_on_api_data=False, retention=NONE),
        Preferences(deny_providers=["provider p"]),
        ("provider Provider P is listed in deny_providers",),
        id="a denied provider is rejected, named by display name in any case",
    ),
    pytest.param(
        _route(trains_on_api_data=False, retention=NONE),
        Preferences(allow_providers=["q"]),
        ("provider Provider P is not listed in allow_providers",),
        id="a provider outside the allowed list is rejected",
    ),
    pytest.param(
        _route(trains_on_api_data=False, retention=NONE),
        Preferences(allow_providers=["p"]),
        (),
        id="a provider on the allowed list by slug is allowed",
    ),
    pytest.param(
        _route(trains_on_api_data=True, retention=THIRTY_DAYS),
        Preferences(max_retention="24h", allow_training=False, deny_providers=["p"]),
        (
            "it keeps API data for 30 days, but max_retention allows at most 24 hours",
            "it trains on API data, and allow_training is false",
            "provider Provider P is listed in deny_providers",
        ),
        id="every reason is listed, not just the first",
    ),
]


@pytest.mark.parametrize(("route", "preferences", "reasons"), REASON_CASES)
def test_reasons_against(route: Route, preferences: Preferences, reasons: tuple[str, ...]) -> None:
    assert reasons_against(route, preferences) == reasons


def test_decide__rejects_30_day_routes_and_keeps_catalog_order(catalog: Catalog) -> None:
    model = catalog.model("Kimi K2")
    decision = decide(model, catalog.routes_of(model), Preferences(max_retention="none"))
    assert [r.provider.slug for r in decision.allowed] == [
        "groq", "nebius", "deepinfra", "fireworks", "together"
    ]  # fmt: skip
    assert decision.rejected == ()


def test_decide__claude_has_no_route_for_a_user_who_wants_nothing_stored(catalog: Catalog) -> None:
    model = catalog.model("claude 4.5 sonnet")
    decision = decide(model, catalog.routes_of(model), Preferences(max_retention="none"))
    assert decision.allowed == ()
    assert {r.route.provider.slug for r in decision.rejected} == {"anthropic", "bedrock"}
    assert all(
        r.reasons == ("it keeps API data for 30 days, but max_retention allows no storage",)
        for r in decision.rejected
    )


def test_decide__unavailable_routes_are_rejected_with_the_deployment_reason(
    catalog: Catalog,
) -> None:
    model = catalog.model("kimi-k2")
    reason = "no credentials: set GROQ_API_KEY"
    decision = decide(
        model, catalog.routes_of(model), Preferences(), unavailable={"kimi-k2/groq": reason}
    )
    assert [(r.route.key, r.reasons) for r in decision.rejected] == [("kimi-k2/groq", (reason,))]
    assert "kimi-k2/groq" not in {r.key for r in decision.allowed}


def test_decide__provider_priority_orders_allowed_routes(catalog: Catalog) -> None:
    model = catalog.model("kimi-k2")
    decision = decide(
        model, catalog.routes_of(model), Preferences(), priority=("together", "fireworks")
    )
    assert [r.provider.slug for r in decision.allowed] == [
        "together", "fireworks", "groq", "nebius", "deepinfra"
    ]  # fmt: skip


def test_decide__an_error_while_deciding_rejects_every_route(catalog: Catalog) -> None:
    class Broken(Preferences):
        @property  # type: ignore[misc]
        def max_retention(self) -> Duration:
            raise RuntimeError("boom")

    model = catalog.model("kimi-k2")
    decision = decide(model, catalog.routes_of(model), Broken.__new__(Broken))
    assert decision.allowed == ()
    assert len(decision.rejected) == 5
    assert decision.rejected[0].reasons == (
        "it could not be checked (RuntimeError), so it is refused to be safe",
    )


def test_decide__candidates_list_every_verdict(catalog: Catalog) -> None:
    model = catalog.model("mistral small")
    decision = decide(model, catalog.routes_of(model), Preferences(deny_providers=["nebius"]))
    assert decision.candidates() == [
        {"route": "mistral-small/mistral", "provider": "mistral", "verdict": "allowed"},
        {
            "route": "mistral-small/nebius",
            "provider": "nebius",
            "verdict": "rejected",
            "reasons": ["provider Nebius is listed in deny_providers"],
        },
    ]


def test_decision_to_dict__model_preferences_order_and_candidates(catalog: Catalog) -> None:
    model = catalog.model("mistral small")
    prefs = Preferences(deny_providers=["nebius"])
    decision = decide(model, catalog.routes_of(model), prefs)
    assert decision.to_dict() == {
        "model": {"slug": "mistral-small", "name": model.name},
        "preferences": {"deny_providers": ["nebius"]},
        "order": ["mistral-small/mistral"],
        "candidates": decision.candidates(),
    }
    assert decision.rejected[0].to_dict() == {
        "route": "mistral-small/nebius",
        "provider": "nebius",
        "reasons": ["provider Nebius is listed in deny_providers"],
    }
