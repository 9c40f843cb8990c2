"""Schemathesis against ``/openapi.json``: the OpenAPI document and the behaviour agree.

Every operation gets generated requests, valid and invalid by the document: none may get a
500, a schema-valid request must not be refused as invalid, an invalid one must be refused,
and every answer must match the document (status, body, ``Allow`` on a 405). Bounded here
(a few examples per operation, in process, offline); ``bench/schemathesis.py`` runs it long
against a real ``serve``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Final

import schemathesis
from hypothesis import HealthCheck, assume, settings

from router._audit import AuditLog
from router._router import PolicyRouter
from router._server.app import create_app
from tests.server.test_app import ADMIN_KEY, make_settings

MAX_EXAMPLES: Final = int(os.environ.get("POLICY_ROUTER_TEST_SCHEMATHESIS_EXAMPLES", "15"))


# The request endpoints: each request to one of them leaves exactly one route.decision or,
# refused before deciding, one route.refused record (issue 23's rule, checked on every case).
REQUESTS: Final = frozenset(
    {"/v1/chat/completions", "/v1/responses", "/v1/messages", "/v1/messages/count_tokens"}
)
LINES: Final[list[str]] = []


def _app() -> object:
    config = make_settings(Path(tempfile.mkdtemp(prefix="openapi-")))
    router = PolicyRouter.from_settings(config, audit_log=AuditLog(LINES.append))
    return create_app(router, config)


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_openapi__behaviour_matches_the_document(case: schemathesis.Case) -> None:
    assume(_one_user(case))
    assume(_outputs_follow_their_calls(case))
    LINES.clear()
    response = case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    if case.method.upper() == "POST" and case.path in REQUESTS and response.status_code != 401:
        events = [json.loads(line)["event"] for line in LINES]
        decided = [e for e in events if e in ("route.decision", "route.refused")]
        assert decided[:1] in (["route.decision"], ["route.refused"]), events
        assert decided.count("route.decision") + (decided[0] == "route.refused") == 1, events


def _one_user(case: schemathesis.Case) -> bool:
    """The one rule OpenAPI cannot state: the body's (or the query's) ``user`` and the
    ``X-Router-User`` header, when both are given, name the same user (else 400
    ``conflicting_user``)."""
    body = case.body.get("user") if isinstance(case.body, dict) else None
    stated = body or (case.query or {}).get("user")
    header = (case.headers or {}).get("X-Router-User")
    return not (stated and header and stated != header)


def _outputs_follow_their_calls(case: schemathesis.Case) -> bool:
    """The Responses rule OpenAPI cannot state: a ``function_call_output`` input item follows
    the ``function_call`` item with its ``call_id`` (else 400: nothing is stored at the
    provider to match it with)."""
    items = case.body.get("input") if isinstance(case.body, dict) else None
    called: set[object] = set()
    for item in items if isinstance(items, list) else ():
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "function_call":
            called.add(str(item.get("call_id")))
        elif kind == "function_call_output" and str(item.get("call_id")) not in called:
            return False
    return True
