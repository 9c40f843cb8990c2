"""policy-router: every LLM call checked against declared provider policies and each user's
privacy preferences, forwarded through litellm to an allowed backend, and audited.

    from router import PolicyRouter, Preferences

    r = PolicyRouter.from_settings()
    resp = await r.acompletion(model="Claude 4.5 Sonnet", messages=[...], user="alice")

    import router
    router.install()  # every litellm call in this process goes through the policy, or is refused

Importing ``router`` does not import litellm; the first request that needs it does (every
forwarded request of the library: its answers are litellm's types).
"""

from router._config.settings import Settings
from router._core.catalog import (
    Catalog,
    DataPolicy,
    Link,
    Model,
    Note,
    Provider,
    Route,
    UserIdentifier,
)
from router._core.catalog_load import load_catalog, parse_catalog
from router._core.decision import Decision, Rejection, decide
from router._core.duration import Duration
from router._core.preferences import Preferences, combine
from router._errors import (
    BackendsUnconfigured,
    BackendUnavailable,
    CatalogError,
    ConfigError,
    InvalidPreferences,
    InvalidRequest,
    PolicyViolation,
    RequestRejected,
    RouterError,
    StoredPreferencesInvalid,
    StoreUnavailable,
    UnknownModel,
    UnknownProvider,
    UpstreamFailure,
)
from router._gate import install, uninstall
from router._pipeline.failover import Attempt
from router._router import ModelAvailability, PolicyRouter

__all__ = [
    "Attempt",
    "BackendUnavailable",
    "BackendsUnconfigured",
    "Catalog",
    "CatalogError",
    "ConfigError",
    "DataPolicy",
    "Decision",
    "Duration",
    "InvalidPreferences",
    "InvalidRequest",
    "Link",
    "Model",
    "ModelAvailability",
    "Note",
    "PolicyRouter",
    "PolicyViolation",
    "Preferences",
    "Provider",
    "Rejection",
    "RequestRejected",
    "Route",
    "RouterError",
    "Settings",
    "StoreUnavailable",
    "StoredPreferencesInvalid",
    "UnknownModel",
    "UnknownProvider",
    "UpstreamFailure",
    "UserIdentifier",
    "combine",
    "decide",
    "install",
    "load_catalog",
    "parse_catalog",
    "uninstall",
]
