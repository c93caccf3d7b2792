"""Property-based run of the OpenAPI schema (schemathesis against the ASGI app): no input gives a server error.

Every operation is exercised with a scoring key (the most permissive role) and a bounded number of
generated examples so the run stays fast; the checks are schemathesis' `not_a_server_error` plus the
response-schema conformance check (documented status codes, bodies matching their models).
"""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.support.serving_fixtures import SCORE

MAX_EXAMPLES = 15


@pytest.fixture(scope="module")
def operations(client: TestClient) -> list:
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    return [result.ok() for result in schema.get_all_operations()]


def test_schema_has_every_route(operations: list) -> None:
    names = {f"{op.method.upper()} {op.path}" for op in operations}
    assert {"GET /v1/accounts", "GET /v1/accounts/{account_id}", "POST /v1/score", "GET /v1/model",
            "GET /healthz", "GET /readyz", "GET /metrics"} <= names


def test_no_server_errors(operations: list) -> None:
    failures: list[str] = []
    for op in operations:
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def run(case: schemathesis.Case) -> None:
            response = case.call(headers=SCORE)
            case.validate_response(response, checks=[not_a_server_error, status_code_conformance,
                                                     response_schema_conformance])

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them together
            failures.append(f"{op.method.upper()} {op.path}: {str(exc)[:800]}")
    assert not failures, "\n\n".join(failures)
