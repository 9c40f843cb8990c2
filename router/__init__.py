"""policy-router: every LLM call checked against declared provider policies and each user's
privacy preferences, forwarded through litellm to an allowed backend, and audited."""

from router._catalog import Catalog, DataPolicy, Link, Model, Note, Provider, Route, UserIdentifier
from router._catalog_load import load_catalog, parse_catalog
from router._duration import Duration
from router._errors import (
    BackendUnavailable,
    CatalogError,
    ConfigError,
    InvalidPreferences,
    PolicyViolation,
    RequestRejected,
    RouterError,
    StoreUnavailable,
    UnknownModel,
    UnknownProvider,
)
from router._preferences import Preferences, combine

__all__ = [
    "BackendUnavailable",
    "Catalog",
    "CatalogError",
    "ConfigError",
    "DataPolicy",
    "Duration",
    "InvalidPreferences",
    "Link",
    "Model",
    "Note",
    "PolicyViolation",
    "Preferences",
    "Provider",
    "RequestRejected",
    "Route",
    "RouterError",
    "StoreUnavailable",
    "UnknownModel",
    "UnknownProvider",
    "UserIdentifier",
    "combine",
    "load_catalog",
    "parse_catalog",
]
