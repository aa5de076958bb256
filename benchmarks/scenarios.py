"""The scenarios' parameters: the full run's and `--quick`'s (small counts, about a minute
and a half), and the accounts each one needs."""

from __future__ import annotations

from typing import Any

FULL: dict[str, dict[str, Any]] = {
    # Pings at the product's default interval (30 s); each idle window holds one sweep.
    "S1": {"levels": [1000, 5000, 10000], "ping": 30, "idle": 30, "settle": 1},
    "S2": {
        "streams": 1000,
        "ping": 30,
        "phases": [["single", 50], ["single", 200], ["single", 1000], ["batch", 1000]],
        "duration": 6,
        "drain_max": 15,
        "stall": 3,
        "connections": 16,
    },
    "S3": {
        "streams": 10000,
        "ping": 30,
        "phases": [
            # The single-POST sweep: achieved rate, latency from send, server CPU %.
            ["single", 500],
            ["single", 1000],
            ["single", 2000],
            ["single", 5000],
            ["single", 10000],
            ["batch", 2000],
            ["batch", 5000],
            ["batch", 10000, "only if 5,000 was held"],
        ],
        "duration": 6,
        "drain_max": 15,
        "stall": 3,
        "connections": 32,
    },
    # Closed loop: 1, 8, 32 clients each posting its next notification once answered, to
    # customers whose streams are open; then REST reads as one customer.
    "S4": {
        "streams": 100,
        "ping": 30,
        "concurrency": [1, 8, 32],
        "reads": [
            ["list", "/api/v1/notifications"],
            ["unread-count", "/api/v1/notifications/unread-count"],
            ["healthz", "/healthz"],
        ],
        "read_concurrency": [1, 8],
        "duration": 5,
        "drain_max": 15,
        "stall": 3,
    },
    # N writer instances on one PostgreSQL database, each kept busy by its own closed-loop
    # clients; an observer instance with no client and no stream. Phases: [single or
    # batch, notifications a request, clients per writer].
    "S5": {
        "writers": [1, 2, 4],
        "customers": 100,
        "ping": 30,
        "phases": [["single", 1, 16], ["batch", 100, 4]],
        "duration": 6,
        "observer_idle": 3,
        "cores": "0",
    },
}
QUICK: dict[str, dict[str, Any]] = {
    "S1": {"levels": [200, 1000], "ping": 1.5, "idle": 3, "settle": 0.5},
    "S2": {
        **FULL["S2"],
        "streams": 200,
        "phases": [["single", 50], ["batch", 200]],
        "duration": 2,
        "drain_max": 5,
        "stall": 2,
        "connections": 16,
    },
    "S3": {
        **FULL["S3"],
        "streams": 1000,
        "phases": [["single", 500], ["single", 2000], ["batch", 2000]],
        "duration": 2,
        "drain_max": 5,
        "stall": 2,
        "connections": 16,
    },
    "S4": {**FULL["S4"], "streams": 20, "read_concurrency": [1], "duration": 2, "drain_max": 5},
    "S5": {**FULL["S5"], "writers": [1, 2], "duration": 2, "observer_idle": 1},
}
# S5 needs PostgreSQL and Redis: not in --quick unless asked for.
SCENARIOS, QUICK_SCENARIOS = "S1,S2,S3,S4,S5", "S1,S2,S3,S4"


def accounts_needed(scenario: str, params: dict[str, Any]) -> tuple[int, int]:
    """Admins and customers the scenario streams as (the sender admin comes on top)."""
    if scenario == "S1":
        return 1, max(params["levels"])
    if scenario == "S2":
        return params["streams"], 1
    if scenario == "S5":
        return 1, params["customers"]
    return 1, params["streams"]
