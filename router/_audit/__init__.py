"""The audit log: writing chained records (``log``), their chain (``chain``), sinks (``sink``),
and reading them back: ``records`` (parsing), ``verify`` (chain and policy), ``query``."""

from router._audit.log import AuditLog

__all__ = ["AuditLog"]
