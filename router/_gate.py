"""The gate: ``router.install()`` makes the policy the only way out of the process for litellm.

    import router
    router.install()          # or router.install(my_router, strict=True)

After it, ``litellm.completion`` / ``acompletion`` / ``responses`` / ``aresponses`` and the
Anthropic Messages functions go through a PolicyRouter (built with
``PolicyRouter.from_settings()`` on the first call that needs it, unless one is given); every
other litellm function that could reach a provider is refused with a ``RouterError`` naming
it (router/_upstream/gate.py has the lists); litellm's capability helpers answer for catalog
model names. With ``strict=True``, every HTTP request to a provider endpoint that is not one
of the router's own attempts is refused too, whatever library made it (httpx, aiohttp:
router/_upstream/strict.py). ``router.uninstall()`` puts back exactly what was there.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from router._errors import RouterError, UnknownModel

if TYPE_CHECKING:
    from router._router import PolicyRouter
    from router._upstream.gate import Patched

__all__ = ["install", "installed", "uninstall"]


class _Lazy:
    """The router the gate routes to: the one given, or one built from settings on first use."""

    def __init__(self, given: PolicyRouter | None) -> None:
        self._router = given
        self._lock = threading.Lock()

    def get(self) -> PolicyRouter:
        if self._router is None:
            with self._lock:
                if self._router is None:
                    from router._router import PolicyRouter

                    self._router = PolicyRouter.from_settings()
        return self._router

    # -- what the gate routes to (router._upstream.gate.Routes) -------------------------------

    def completion(self, model: str, messages: Any = None, **kwargs: Any) -> Any:
        return self.get().completion(model, messages, **kwargs)

    async def acompletion(self, model: str, messages: Any = None, **kwargs: Any) -> Any:
        return await self.get().acompletion(model, messages, **kwargs)

    def responses(self, model: str, input: Any = None, **kwargs: Any) -> Any:
        return self.get().responses(model, input, **kwargs)

    async def aresponses(self, model: str, input: Any = None, **kwargs: Any) -> Any:
        return await self.get().aresponses(model, input, **kwargs)

    def messages(self, **request: Any) -> Any:
        return self.get().messages(**request)

    async def amessages(self, **request: Any) -> Any:
        return await self.get().amessages(**request)

    def resolve(self, model: str, prefix: str | None = None) -> str | None:
        """The litellm model string of the first route the operator's policy allows for a
        catalog model (of litellm provider ``prefix``, if given); None for a name the catalog
        does not know (litellm answers for it) or a model with no such route."""
        router = self.get()
        try:
            found = router.catalog.model(model)
        except (UnknownModel, LookupError):
            return None
        for route in router.decide(found, router.operator_preferences).allowed:
            target = router.deployment.target(route.key)
            if target is not None and prefix in (None, target.prefix):
                return target.model
        return None


@dataclass
class _Installed:
    routes: _Lazy
    patched: Patched
    strict: Any  # router._upstream.strict.Strict, or None


_LOCK = threading.Lock()
_STATE: list[_Installed] = []  # the gate in force (at most one): process-wide, like litellm's


def install(policy_router: PolicyRouter | None = None, *, strict: bool = False) -> None:
    """Route every litellm call of this process through ``policy_router``'s policy, or refuse it.

    ``policy_router``: the router to use; None builds one from settings on first use.
    ``strict``: also refuse HTTP requests to provider endpoints that are not the router's own
    attempts (the openai or anthropic SDK's own clients, a framework's own HTTP calls).
    Installing again replaces the gate in force (its router, its strictness)."""
    from router._upstream import gate

    with _LOCK:
        _uninstall_locked()
        routes = _Lazy(policy_router)
        patched = gate.patch(routes)
        guard = None
        if strict:
            from router._upstream import strict as strict_mode

            try:
                guard = strict_mode.install(_endpoints(routes.get()))
            except BaseException:
                patched.restore()
                raise
        _STATE.append(_Installed(routes, patched, guard))


def uninstall() -> None:
    """Put back what ``install`` replaced, exactly as it was; nothing if nothing is installed.
    The router it built is not closed (calls may still be running): close it yourself."""
    with _LOCK:
        _uninstall_locked()


def installed() -> PolicyRouter | None:
    """The router the gate in force routes to (built now if it was left to settings), or None."""
    with _LOCK:
        return _STATE[0].routes.get() if _STATE else None


def _uninstall_locked() -> None:
    while _STATE:
        state = _STATE.pop()
        if state.strict is not None:
            state.strict.restore()
        state.patched.restore()


def _endpoints(router: PolicyRouter) -> Any:
    """Strict mode's provider endpoints: the catalog providers' public hosts (deployment file,
    ``hosts``) and the api_base of every provider the settings point elsewhere."""
    from router._upstream.strict import Endpoints

    bases = [p.api_base for p in router.settings.providers.values() if p.api_base]
    hosts = [h for patterns in router.deployment.hosts.values() for h in patterns]
    if not hosts:
        raise RouterError(
            "strict mode needs the providers' API hosts: the deployment file declares none "
            "(add 'hosts' per provider, as config/routes.yaml does)"
        )
    return Endpoints.of(hosts, bases)
