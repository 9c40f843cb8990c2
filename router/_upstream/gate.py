"""litellm's module, patched so that every call that could reach a provider meets the policy.

``patch(routes)`` replaces litellm's public functions (``router.install()`` calls it):

- routed: ``completion``, ``acompletion``, ``responses``, ``aresponses`` and the Anthropic
  Messages entry points (``litellm.anthropic_messages``, ``anthropic_messages_handler``,
  ``litellm.anthropic_interface.messages.acreate`` / ``create``) call the router;
- local helpers (``LOCAL``: token counting, cost and capability tables, response builders)
  are left as they are, except the capability helpers (``CAPABILITIES``), which answer for a
  catalog model name as for the litellm model string of its first allowed route;
- everything else litellm exports as a function is refused with a ``RouterError`` naming it:
  ``REFUSED`` lists the ones reviewed, and one litellm adds later is refused too, since only
  the two lists above are let through (deny by default).

The router's own litellm calls (router/_upstream/own.py), and litellm's internal calls made
inside them (its Responses bridge calls ``litellm.acompletion``), reach litellm's functions
unrouted. ``Patched.restore()`` puts back exactly what was there, the application's own
replacements included. Code that bound a litellm function to its own name before the patch
(``from litellm import completion``) keeps the unpatched function: install first.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from router._errors import RouterError
from router._upstream.gate_names import CAPABILITIES, LOCAL, REFUSED, ROUTED
from router._upstream.own import is_own
from router._upstream.setup import _module

__all__ = ["CAPABILITIES", "LOCAL", "REFUSED", "ROUTED", "Patched", "Routes", "functions", "patch"]

_MISSING: Final = object()
_ROUTE_HINT: Final = (
    "call litellm.completion / acompletion / responses / aresponses or the Anthropic "
    "messages functions with a catalog model instead, which the policy routes; or call "
    "router.uninstall() first if this process may send it unrouted"
)


class Routes(Protocol):
    """What the gate routes to (``router._gate`` builds it around a PolicyRouter)."""

    def completion(self, *args: Any, **kwargs: Any) -> Any: ...
    async def acompletion(self, *args: Any, **kwargs: Any) -> Any: ...
    def responses(self, *args: Any, **kwargs: Any) -> Any: ...
    async def aresponses(self, *args: Any, **kwargs: Any) -> Any: ...
    def messages(self, **request: Any) -> Any: ...
    async def amessages(self, **request: Any) -> Any: ...
    def resolve(self, model: str, prefix: str | None = None) -> str | None:
        """The litellm model string of a catalog model's first allowed route (of litellm
        provider ``prefix``, if given), else None."""
        ...


@dataclass
class Patched:
    """What ``patch`` replaced: (module, name) -> the value there before (or missing)."""

    saved: dict[tuple[Any, str], Any] = field(default_factory=dict)

    def set(self, module: Any, name: str, value: Any) -> None:
        key = (module, name)
        if key not in self.saved:
            self.saved[key] = vars(module).get(name, _MISSING)
        setattr(module, name, value)

    def restore(self) -> None:
        """Put back exactly what was there; a name that was lazily loaded is unset again."""
        for (module, name), before in reversed(self.saved.items()):
            if before is _MISSING:
                vars(module).pop(name, None)
            else:
                setattr(module, name, before)
        self.saved.clear()


def _lazy_names() -> set[str]:
    """The names litellm loads on first access: its registry before 1.110, its tables after.

    From 1.110 ``litellm.__getattr__`` also serves ``litellm.utils``' lazy names
    (``UTILS_ATTRIBUTES``: ``get_supported_openai_params``, ``map_finish_reason``, ...), which
    1.104's registry listed with the rest. Its factories (``_LITELLM_FACTORIES``) are left out:
    they build clients and caches on access, and none of them is a function.
    """
    try:
        from litellm._lazy_imports import (  # type: ignore[attr-defined,unused-ignore]  # noqa: TID251
            _get_lazy_import_registry,
        )
    except ImportError:  # litellm 1.110 and later
        from litellm._lazy_imports_registry import (  # type: ignore[attr-defined,unused-ignore]  # noqa: TID251
            LITELLM_ATTRIBUTES,
            UTILS_ATTRIBUTES,
        )

        return set(LITELLM_ATTRIBUTES) | set(UTILS_ATTRIBUTES)
    return set(_get_lazy_import_registry())


def functions(litellm: Any) -> dict[str, Callable[..., Any]]:
    """litellm's public functions: its module's and its lazily loaded names, litellm's own."""
    names = {n for n in dir(litellm) if not n.startswith("_")}
    names |= {n for n in _lazy_names() if not n.startswith("_") and n[0].islower()}
    out: dict[str, Callable[..., Any]] = {}
    for name in sorted(names):
        value = getattr(litellm, name, None)
        if value is not None and _is_function(value):
            out[name] = value
    return out


def _is_function(value: Any) -> bool:
    if not callable(value) or inspect.isclass(value) or inspect.ismodule(value):
        return False
    return str(getattr(value, "__module__", "") or "").startswith("litellm")


def patch(routes: Routes) -> Patched:
    """Route, refuse or keep each of litellm's public functions (see the module's docstring)."""
    litellm: Any = _module()
    patched = Patched()
    candidates = functions(litellm)
    for name in (*ROUTED, *CAPABILITIES, *REFUSED):  # whatever is there now, the host's too
        value = getattr(litellm, name, None)
        if callable(value):
            candidates[name] = value
    for name, original in candidates.items():
        if name in ROUTED:
            patched.set(litellm, name, _routed(name, original, routes))
        elif name in CAPABILITIES:
            patched.set(litellm, name, _capability(original, routes))
        elif name not in LOCAL:
            patched.set(litellm, name, _refused(name, original))
    _patch_messages_modules(patched, routes)
    return patched


def _patch_messages_modules(patched: Patched, routes: Routes) -> None:
    """The Anthropic Messages functions where litellm's own modules bound them by name."""
    import litellm.anthropic_interface.messages as interface  # noqa: TID251
    import litellm.messages as messages  # noqa: TID251

    for module, names in (
        (interface, ("acreate", "create")),
        (messages, ("anthropic_messages", "anthropic_messages_handler")),
    ):
        for name in names:
            patched.set(module, name, _routed(name, getattr(module, name), routes))


def _routed(name: str, original: Callable[..., Any], routes: Routes) -> Callable[..., Any]:
    kind = ROUTED.get(name) or _INTERFACE[name]
    target = {
        "completion": routes.completion,
        "acompletion": routes.acompletion,
        "responses": routes.responses,
        "aresponses": routes.aresponses,
        "messages": routes.messages,
        "amessages": routes.amessages,
    }[kind]
    convert = _CALL_SHAPES[kind]
    if inspect.iscoroutinefunction(original):

        @functools.wraps(original)
        async def routed_async(*args: Any, **kwargs: Any) -> Any:
            if is_own():
                return await original(*args, **kwargs)
            return await target(**convert(name, args, kwargs))

        return routed_async

    @functools.wraps(original)
    def routed(*args: Any, **kwargs: Any) -> Any:
        if is_own():
            return original(*args, **kwargs)
        return target(**convert(name, args, kwargs))

    return routed


# litellm.anthropic_interface.messages' names for its two entry points
_INTERFACE: Final[Mapping[str, str]] = {"acreate": "amessages", "create": "messages"}


def _positional(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any], order: tuple[str, ...]
) -> dict[str, Any]:
    """``kwargs`` with the first positional arguments named as litellm names them."""
    if len(args) > len(order):
        raise RouterError(
            f"litellm.{name}: pass arguments after {', '.join(order)} by keyword "
            f"(got {len(args)} positional arguments) so that each is checked by name"
        )
    named = dict(zip(order, args, strict=False))
    for key in named:
        if key in kwargs:
            raise RouterError(f"litellm.{name}: {key!r} was given twice")
    return named | kwargs


def _chat_shape(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    return _positional(name, args, kwargs, ("model", "messages"))


def _responses_shape(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    return _positional(name, args, kwargs, ("input", "model"))


def _messages_shape(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """litellm's Messages functions pass every optional field, None when unset: dropped."""
    request = _positional(name, args, kwargs, ("max_tokens", "messages", "model"))
    return {k: v for k, v in request.items() if v is not None}


_CALL_SHAPES: Final[Mapping[str, Callable[..., dict[str, Any]]]] = {
    "completion": _chat_shape,
    "acompletion": _chat_shape,
    "responses": _responses_shape,
    "aresponses": _responses_shape,
    "messages": _messages_shape,
    "amessages": _messages_shape,
}


def _refused(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    message = (
        f"litellm.{name} is refused: router.install() lets litellm reach providers only "
        f"through the policy, and this entry point is not routed; {_ROUTE_HINT}"
    )
    if inspect.iscoroutinefunction(original):

        @functools.wraps(original)
        async def refused_async(*args: Any, **kwargs: Any) -> Any:
            if is_own():
                return await original(*args, **kwargs)
            raise RouterError(message)

        return refused_async

    @functools.wraps(original)
    def refused(*args: Any, **kwargs: Any) -> Any:
        if is_own():
            return original(*args, **kwargs)
        raise RouterError(message)

    return refused


def _capability(original: Callable[..., Any], routes: Routes) -> Callable[..., Any]:
    """A capability helper that answers for a catalog name as for its first allowed route."""

    @functools.wraps(original)
    def helper(*args: Any, **kwargs: Any) -> Any:
        if not is_own():
            args, kwargs = _resolved(args, kwargs, routes)
        return original(*args, **kwargs)

    return helper


def _resolved(
    args: tuple[Any, ...], kwargs: dict[str, Any], routes: Routes
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The call with ``model`` (first positional or keyword) replaced by its route's litellm
    model string when it names a catalog model. With a ``custom_llm_provider``, the model's
    first allowed route of that provider answers (its model part, the provider kept); a
    catalog model with no allowed route there is left to litellm as asked."""
    named = "model" in kwargs
    model = kwargs["model"] if named else (args[0] if args else None)
    if not isinstance(model, str):
        return args, kwargs
    provider = kwargs.get("custom_llm_provider")
    found = routes.resolve(model, provider if isinstance(provider, str) else None)
    if found is None:
        return args, kwargs
    if isinstance(provider, str):
        found = found.split("/", 1)[1]
    if named:
        return args, kwargs | {"model": found}
    return (found, *args[1:]), kwargs
