"""The catalog's values as plain data: the one form that the dump, the diff, the CLI's JSON,
the server and the audit log all carry."""

from __future__ import annotations

import pytest

from router._core.catalog import (
    DataPolicy,
    Link,
    Model,
    Note,
    NoteKind,
    Provider,
    Route,
    UserIdentifier,
)
from router._core.duration import Duration

LEGAL = Note(NoteKind.LEGAL, "kept under a court order", "https://example.com/hold")
STATED = DataPolicy(
    trains_on_api_data=False,
    retention=Duration.parse("30d"),
    flagged_retention=Duration.parse("2y"),
    user_identifier=UserIdentifier.PSEUDONYMOUS,
    notes=(LEGAL,),
)


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        pytest.param(Link("Privacy policy"), {"title": "Privacy policy"}, id="a link without url"),
        pytest.param(
            Link("FAQ", "https://example.com/faq"),
            {"title": "FAQ", "url": "https://example.com/faq"},
            id="a link with its url",
        ),
        pytest.param(
            Note(NoteKind.AVAILABILITY, "EU only"),
            {"kind": "availability", "text": "EU only"},
            id="a note without url",
        ),
        pytest.param(
            LEGAL,
            {
                "kind": "legal",
                "text": "kept under a court order",
                "url": "https://example.com/hold",
            },
            id="a note with its url",
        ),
    ],
)
def test_to_dict__links_and_notes_as_a_catalog_file_states_them(
    value: Link | Note, plain: dict[str, str]
) -> None:
    assert value.to_dict() == plain


def test_data_policy_to_dict__stated_fields_as_text_and_notes() -> None:
    assert STATED.to_dict() == {
        "trains_on_api_data": False,
        "retention": "30d",
        "flagged_retention": "2y",
        "user_identifier": "pseudonymous",
        "notes": [LEGAL.to_dict()],
    }


def test_data_policy_to_dict__unstated_fields_are_none() -> None:
    assert DataPolicy().to_dict() == {
        "trains_on_api_data": None,
        "retention": None,
        "flagged_retention": None,
        "user_identifier": None,
        "notes": [],
    }


def test_data_policy_effective__unknowns_at_their_strictest() -> None:
    assert DataPolicy().effective().to_dict() == {
        "trains_on_api_data": True,
        "retention": "unlimited",
        "flagged_retention": "unlimited",
        "user_identifier": "omit",
        "notes": [],
    }


def test_data_policy_effective__stated_fields_stay_and_flagged_is_never_shorter() -> None:
    assert STATED.effective() == STATED
    shorter = DataPolicy(retention=Duration.parse("30d"), flagged_retention=Duration.parse("1d"))
    assert shorter.effective().to_dict()["flagged_retention"] == "30d"


def test_route_to_dict__names_the_route_and_its_provider() -> None:
    route = Route(Model("kimi-k2", "Kimi K2"), Provider("groq", "Groq"), STATED)
    assert route.to_dict() == {"route": "kimi-k2/groq", "provider": "groq"}


def test_route_key__made_once_follows_a_replace_and_takes_no_part_in_equality() -> None:
    import dataclasses

    route = Route(Model("kimi-k2", "Kimi K2"), Provider("groq", "Groq"), STATED)
    moved = dataclasses.replace(route, provider=Provider("fireworks", "Fireworks"))

    assert (route.key, moved.key) == ("kimi-k2/groq", "kimi-k2/fireworks")
    twin = Route(Model("kimi-k2", "Kimi K2"), Provider("groq", "Groq"), STATED)
    assert twin == route
    assert hash(twin) == hash(route)
    assert "key" not in repr(route)
