"""Frozen values made per request, built in one write.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` (its own
``__setattr__`` raises): for a dozen fields about 18k instructions a value, on 3.11, where
one write of the instance's ``__dict__`` costs about 8k (bench/README.md, issue 25).
``one_write`` gives a frozen dataclass (without slots) that ``__init__``: the same
parameters, defaults and default factories, in the same order; everything else (equality,
hash, ``repr``, ``replace``, assignment raising ``FrozenInstanceError``) is the dataclass's
own.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final, TypeVar

T = TypeVar("T")

_NO_VALUE: Final = object()  # a default factory's parameter, not passed


def one_write(cls: type[T]) -> type[T]:
    """``cls``, a frozen dataclass without slots, with an ``__init__`` that sets its fields in
    one write of ``__dict__``. Raises TypeError for a class it cannot build that way."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or hasattr(cls, "__slots__"):
        raise TypeError(f"{cls.__name__}: one_write takes a frozen dataclass without slots")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: one_write does not run __post_init__")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if any(not f.init or f.kw_only for f in fields):
        raise TypeError(f"{cls.__name__}: one_write takes only positional init fields")
    scope: dict[str, Any] = {"_set": object.__setattr__, "_NO_VALUE": _NO_VALUE}
    signature, factories = [], []
    for f in fields:
        if f.default is not dataclasses.MISSING:
            scope[f"_default_{f.name}"] = f.default
            signature.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            scope[f"_factory_{f.name}"] = f.default_factory
            signature.append(f"{f.name}=_NO_VALUE")
            factories.append(
                f"    if {f.name} is _NO_VALUE:\n        {f.name} = _factory_{f.name}()\n"
            )
        else:
            signature.append(f.name)
    written = ", ".join(f"{f.name!r}: {f.name}" for f in fields)
    source = (
        f"def __init__(self, {', '.join(signature)}):\n"
        f"{''.join(factories)}"
        f"    _set(self, '__dict__', {{{written}}})\n"
    )
    exec(source, scope)  # noqa: S102  our own text, from the class's field names
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    setattr(cls, "__init__", init)  # noqa: B010  mypy forbids assigning a method
    return cls
