"""one_write: a frozen dataclass built in one write, and still frozen."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import FrozenInstanceError, dataclass, field
from typing import Any

import pytest

from router._core.names import Named
from router._core.scrub import Scrubbed
from router._core.values import one_write
from router._pipeline.dropin import Limits
from router._pipeline.failover import Answered, Call, _Step
from router._upstream.adapter import UpstreamCall

_counter = itertools.count()


def _made(quick: bool) -> Any:
    """The same frozen dataclass, built by its own ``__init__`` or by ``one_write``'s."""

    @dataclass(frozen=True)
    class _Value:
        a: int
        b: str = "b"
        c: list[int] = field(default_factory=list)
        d: int = field(default_factory=lambda: next(_counter))

    return one_write(_Value) if quick else _Value


_Plain, _Quick = _made(quick=False), _made(quick=True)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        pytest.param((1,), {}, id="defaults and factories"),
        pytest.param((1, "x", [2]), {}, id="positional"),
        pytest.param((), {"a": 1, "c": [3], "b": "y"}, id="keywords in any order"),
        pytest.param((1,), {"d": 7}, id="a factory's field given"),
    ],
)
def test_one_write__builds_what_the_dataclass_builds(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    plain, quick = _Plain(*args, **kwargs), _Quick(*args, **kwargs)
    want = dataclasses.asdict(plain)
    got = dataclasses.asdict(quick)
    if "d" not in kwargs:  # a fresh value from the factory on each side
        assert got.pop("d") == want.pop("d") + 1
    assert got == want


def test_one_write__each_value_gets_its_own_factory_value() -> None:
    first, second = _Quick(1), _Quick(1)
    assert first.c == second.c == []
    assert first.c is not second.c
    assert first.d != second.d


def test_one_write__still_frozen_and_a_value() -> None:
    value = _Quick(1)
    with pytest.raises(FrozenInstanceError):
        value.a = 2
    with pytest.raises(FrozenInstanceError):
        del value.b
    with pytest.raises(FrozenInstanceError):
        value.new = 1
    assert value == _Quick(1, d=value.d)
    assert hash(_Quick(1, c=(), d=0)) == hash(_Quick(1, c=(), d=0))
    assert dataclasses.replace(value, a=5) == _Quick(5, c=[], d=value.d)
    assert repr(value).endswith(f"_Value(a=1, b='b', c=[], d={value.d})")


def test_one_write__missing_or_unknown_arguments_raise_as_the_dataclass_does() -> None:
    with pytest.raises(TypeError):
        _Quick()
    with pytest.raises(TypeError):
        _Quick(1, e=2)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: dataclass(frozen=True, slots=True)(type("S", (), {})), id="slots"),
        pytest.param(lambda: dataclass(type("M", (), {})), id="not frozen"),
        pytest.param(lambda: type("N", (), {}), id="not a dataclass"),
        pytest.param(
            lambda: dataclass(frozen=True)(type("P", (), {"__post_init__": lambda self: None})),
            id="a post-init it would skip",
        ),
    ],
)
def test_one_write__refuses_a_class_it_cannot_build_that_way(make: Any) -> None:
    with pytest.raises(TypeError, match="one_write"):
        one_write(make())


@pytest.mark.parametrize("cls", [Call, Answered, _Step, UpstreamCall, Limits, Scrubbed, Named])
def test_per_request_values__are_frozen_and_built_in_one_write(cls: type[Any]) -> None:
    assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"
    names = [f.name for f in dataclasses.fields(cls)]
    assert list(cls.__init__.__code__.co_varnames[1 : len(names) + 1]) == names
    assert cls.__dataclass_params__.frozen
    with pytest.raises(FrozenInstanceError):
        cls.__setattr__(object.__new__(cls), names[0], None)
