"""Schemathesis against the server's own OpenAPI document, as every role.

For each operation, Hypothesis generates a bounded number of requests (valid and invalid:
wrong types, huge and negative ids, odd unicode, missing fields) and sends them to a real
server with the role's token. Every answer must be other than a 5xx and match the
document: a documented status, its content type, its headers, its body schema.

The server ends streams after SSE_MAX_STREAM_SECONDS=0.3, so a stream the role may open
is answered in full and checked like any other answer. SCHEMATHESIS_MAX_EXAMPLES (default
12) bounds the examples per operation and role; runs are derandomized, so CI repeats them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode, checks

from tests.utils.factories import API, unique_email
from tests.utils.server import ServerProcess, fresh_server

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "12"))
ROLES = ("anonymous", "superadmin", "admin", "customer")
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def contract_server(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server of its own: what the generated requests create stays out of other tests."""
    workdir = tmp_path_factory.mktemp(f"contract-{backend}")
    with fresh_server(backend, workdir, SSE_MAX_STREAM_SECONDS="0.3") as process:
        yield process


def _login(http: httpx.Client, email: str, password: str) -> dict[str, str]:
    response = http.post(f"{API}/auth/login", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture(scope="module")
def role_headers(contract_server: ServerProcess) -> dict[str, dict[str, str]]:
    """The Authorization header of each role (none for anonymous): a superadmin, an admin
    of a salon with a service, a customer."""
    with httpx.Client(base_url=contract_server.base_url, timeout=10) as http:
        root = _login(http, contract_server.superadmin_email, contract_server.superadmin_password)
        salon = http.post(f"{API}/salons", json={"name": "Contract salon"}, headers=root).json()
        admin = {"email": unique_email("admin"), "password": "admin-pass-1", "full_name": "A"}
        created = http.post(f"{API}/salons/{salon['id']}/admins", json=admin, headers=root)
        assert created.status_code == 201, created.text
        admin_headers = _login(http, admin["email"], admin["password"])
        service = {"name": "Cut", "duration_minutes": 30, "price": 20}
        made = http.post(
            f"{API}/salons/{salon['id']}/services", json=service, headers=admin_headers
        )
        assert made.status_code == 201, made.text
        customer = {"email": unique_email("customer"), "password": "customer-1", "full_name": "C"}
        assert http.post(f"{API}/auth/register", json=customer).status_code == 201
        return {
            "anonymous": {},
            "superadmin": root,
            "admin": admin_headers,
            "customer": _login(http, customer["email"], customer["password"]),
        }


def operations(base_url: str) -> list[schemathesis.APIOperation]:
    """Every operation; POST /auth/logout-all last, since it revokes the role's token."""
    loaded = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    found = [result.ok() for result in loaded.get_all_operations()]
    return sorted(found, key=lambda operation: operation.path.endswith("/logout-all"))


def failures_of(
    operation: schemathesis.APIOperation, base_url: str, headers: dict[str, str]
) -> str | None:
    """Run the bounded Hypothesis test of one operation; what failed, or None."""
    cases = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
        GenerationMode.NEGATIVE
    )

    @given(case=cases)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=15)

    try:
        check()
    except (Exception, BaseExceptionGroup) as exc:  # schemathesis reports a BaseExceptionGroup
        return f"{operation.method.upper()} {operation.path}: {exc}"
    return None


@pytest.mark.parametrize("role", ROLES)
def test_every_answer_matches_the_openapi_document(
    role: str, role_headers: dict[str, dict[str, str]], contract_server: ServerProcess
) -> None:
    base_url = contract_server.base_url
    found = [
        failure
        for operation in operations(base_url)
        if (failure := failures_of(operation, base_url, role_headers[role])) is not None
    ]
    assert not found, f"{len(found)} operation(s) failed as {role}:\n\n" + "\n\n".join(found)
