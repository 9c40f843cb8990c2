"""The HTTP proxy (``policy-router serve``): needs the ``proxy`` extra."""

from router._errors import require_extra

require_extra("proxy", "the HTTP proxy", "fastapi", "uvicorn", "prometheus_client")
