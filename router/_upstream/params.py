"""Which of a request's parameters a route would drop: litellm is called with
``drop_params=True`` and silently leaves out what it does not support for a provider; this
names them beforehand, from litellm's own table (``get_supported_openai_params``). The lean
path drops nothing (the provider answers for what it does not take), so its routes never ask
litellm."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any, Final

from router._upstream.deployment import Target
from router._upstream.providers import serves
from router._upstream.setup import _module

# Arguments that are no provider parameter to drop: the router owns them (stream, the
# identifiers it scrubs, store: false), or litellm handles them itself on every route
# (stream_options: litellm computes usage where the provider sends none).
NOT_PARAMETERS: Final = frozenset(
    {
        "messages", "stream", "stream_options", "user", "safety_identifier", "prompt_cache_key",
        "metadata", "store", "privacy", "timeout", "num_retries", "max_retries",
    }
)  # fmt: skip


def unsupported(target: Target, names: Iterable[str]) -> tuple[str, ...]:
    """The ``names`` litellm would drop for ``target``, sorted; none if the lean path serves
    it, or if litellm does not know the route (it then forwards everything, and the provider
    answers for itself)."""
    asked = sorted(set(names) - NOT_PARAMETERS)
    if not asked or serves(target):
        return ()
    supported = _supported(target.model)
    if supported is None:
        return ()
    return tuple(name for name in asked if name not in supported)


@functools.lru_cache(maxsize=1024)
def _supported(model_string: str) -> frozenset[str] | None:
    """litellm's supported parameters of a ``prefix/model`` string (fixed per litellm version)."""
    litellm: Any = _module()
    prefix, model = model_string.split("/", 1)
    try:
        found = litellm.get_supported_openai_params(model=model, custom_llm_provider=prefix)
    except Exception:  # noqa: BLE001  # litellm's table has no entry: it then drops nothing
        return None
    return None if found is None else frozenset(found)
