"""Preferences: parsing with clear errors, and the strictest-wins combination."""

from __future__ import annotations

from typing import Any

import pytest

from router import Duration, InvalidPreferences, Preferences, combine


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("none", 0),
        ("24h", 86400),
        ("30d", 30 * 86400),
        ("90d", 90 * 86400),
        ("2y", 2 * 365 * 86400),
        ("30 days", 30 * 86400),
        ("Not stored", 0),
    ],
)
def test_preferences__max_retention_accepts_durations(text: str, seconds: int) -> None:
    assert Preferences(max_retention=text).max_retention == Duration(float(seconds))


def test_preferences__unlimited_is_an_infinite_duration() -> None:
    limit = Preferences(max_retention="unlimited").max_retention
    assert limit is not None
    assert limit.is_unlimited


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param(
            {"max_retention": "3 fortnights"},
            "'max_retention' must be 'none', a duration like '24h', '30d', '90d' or '2y', "
            "or 'unlimited' (got a string of 12 characters)",
            id="a retention that does not parse names the field and the accepted forms",
        ),
        pytest.param(
            {"max_retention": "-5d"},
            "'max_retention' must be 'none', a duration like '24h', '30d', '90d' or '2y', "
            "or 'unlimited' (got a string of 3 characters)",
            id="a negative retention is refused",
        ),
        pytest.param(
            {"allow_training": "maybe"},
            "'allow_training' must be true or false (got a string of 5 characters)",
            id="a boolean field refuses other words",
        ),
        pytest.param(
            {"deny_providers": [3]},
            "'deny_providers' must be a list of provider names or slugs like ['openai', 'Groq'] "
            "(got a list of 1 item, not all of them non-empty strings)",
            id="a provider list refuses non-strings",
        ),
    ],
)
def test_preferences__bad_input_names_field_value_and_accepted(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidPreferences) as caught:
        Preferences(**fields)
    assert str(caught.value) == message


def test_preferences__from_dict_refuses_unknown_fields() -> None:
    with pytest.raises(InvalidPreferences) as caught:
        Preferences.from_dict({"max_retention": "none", "retention": "30d"})
    assert str(caught.value) == (
        "unknown preference field 'retention'; expected one of: max_retention, "
        "allow_flagged_retention, allow_training, allow_providers, deny_providers, "
        "require_parameters"
    )


def test_preferences__round_trips_through_plain_data() -> None:
    prefs = Preferences(
        max_retention="30d",
        allow_flagged_retention=False,
        allow_training=False,
        allow_providers=["groq", "Nebius"],
        deny_providers=["xai"],
    )
    data = prefs.to_dict()
    assert data == {
        "max_retention": "30d",
        "allow_flagged_retention": False,
        "allow_training": False,
        "allow_providers": ["groq", "nebius"],
        "deny_providers": ["xai"],
    }
    assert Preferences.from_dict(data) == prefs


def test_preferences__strings_parse_from_forms_and_env() -> None:
    prefs = Preferences.from_dict(
        {"allow_training": "false", "deny_providers": "xai, groq", "max_retention": "24h"}
    )
    assert prefs.allow_training is False
    assert prefs.deny_providers == frozenset({"xai", "groq"})


COMBINE_CASES = [
    pytest.param(
        [Preferences(max_retention="30d"), Preferences(max_retention="none")],
        Preferences(max_retention="none"),
        id="the shorter retention wins",
    ),
    pytest.param(
        [Preferences(max_retention="24h"), Preferences(max_retention="unlimited")],
        Preferences(max_retention="24h"),
        id="a user asking for unlimited cannot loosen the operator's 24 hours",
    ),
    pytest.param(
        [Preferences(allow_training=False), Preferences(allow_training=True)],
        Preferences(allow_training=False),
        id="a user cannot allow training the operator forbids",
    ),
    pytest.param(
        [Preferences(), Preferences(allow_flagged_retention=False)],
        Preferences(allow_flagged_retention=False),
        id="a user can forbid flagged retention the operator leaves open",
    ),
    pytest.param(
        [Preferences(allow_providers=["groq", "nebius"]), Preferences(allow_providers=["nebius"])],
        Preferences(allow_providers=["nebius"]),
        id="allowed provider lists intersect",
    ),
    pytest.param(
        [Preferences(deny_providers=["xai"]), Preferences(deny_providers=["groq"])],
        Preferences(deny_providers=["xai", "groq"]),
        id="denied provider lists add up",
    ),
    pytest.param(
        [Preferences(max_retention="30d"), None, Preferences()],
        Preferences(max_retention="30d"),
        id="missing and empty layers change nothing",
    ),
]


@pytest.mark.parametrize(("layers", "expected"), COMBINE_CASES)
def test_combine(layers: list[Preferences | None], expected: Preferences) -> None:
    assert combine(*layers) == expected


def test_preferences__are_frozen() -> None:
    prefs = Preferences(max_retention="none")
    with pytest.raises(AttributeError):
        prefs.max_retention = None  # type: ignore[misc]
