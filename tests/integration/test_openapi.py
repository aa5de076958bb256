"""The API documents itself: /openapi.json and /docs answer, and list every endpoint."""

from __future__ import annotations

from tests.utils.factories import Api


async def test_openapi_document_lists_the_contract(api: Api):
    response = await api.client.get("/openapi.json")
    assert response.status_code == 200, response.text[:300]
    paths = response.json()["paths"]
    for path in (
        "/api/v1/auth/login",
        "/api/v1/auth/register",
        "/api/v1/auth/me",
        "/api/v1/salons",
        "/api/v1/salons/{salon_id}/admins",
        "/api/v1/salons/{salon_id}/services",
        "/api/v1/notifications",
        "/api/v1/notifications/unread-count",
        "/api/v1/notifications/{notification_id}/read",
        "/api/v1/notifications/read-all",
        "/api/v1/notifications/stream",
        "/api/v1/notifications/customer/stream",
        "/api/v1/notifications/stream/stats",
        "/api/v1/appointments",
        "/healthz",
        "/readyz",
    ):
        assert path in paths, path
    stream = paths["/api/v1/notifications/stream"]["get"]["responses"]["200"]
    assert "text/event-stream" in stream["content"]


async def test_swagger_ui_is_served(api: Api):
    response = await api.client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()
