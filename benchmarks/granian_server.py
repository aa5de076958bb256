"""The product under granian instead of uvicorn, to compare server stacks (issue: "try the
server stacks that matter"): `python -m benchmarks.granian_server --port P`, with the same
environment as `salon serve`. Benchmark-only; the product serves with app/server.py.

Granian's own settings, as `salon serve` sets uvicorn's: ASGI with lifespan, uvloop, one
worker, HTTP/1.1, WebSockets on, no access log. Granian caps the requests a worker runs at
once (`backpressure`, by default backlog / workers = 1,024): every open stream is one, so
the cap is lifted as uvicorn has none. Without uvicorn's transport no stream goes direct
(app.server.SalonHttpProtocol) and none can abort its socket (app.server.TransportAccess):
all of them go through the ASGI app (FastAPI's routes).

Granian runs the app in a worker process under this one: the benchmark measures the
worker (benchmarks.servers.Server.pid). Stop it with SIGTERM to this process, as the
benchmark does: Ctrl-C signals the worker twice (its group's SIGINT, then the supervisor's
SIGTERM), which ends the streams at once rather than over SSE_DRAIN_SECONDS, and once in six
tries here left the worker stuck in granian's WorkerSignal.set().
"""

from __future__ import annotations

from granian import Granian
from granian.constants import HTTPModes, Interfaces, Loops
from granian.log import LogLevels
from starlette.types import ASGIApp

from app.core.config import get_settings
from app.core.logging import configure_logging_from
from benchmarks.launch import prepare

BACKPRESSURE = 1_000_000  # concurrent requests per worker: streams are requests


def create_app() -> ASGIApp:
    """The worker's app, built in the worker from the environment (as `salon serve`)."""
    from app.main import create_app

    settings = get_settings()
    # After granian's own logging set-up in the worker, so that ours is the one in force.
    configure_logging_from(settings)
    return create_app(settings)


def main() -> None:
    args, settings = prepare(__doc__.split("\n\n")[0])
    Granian(
        "benchmarks.granian_server:create_app",
        factory=True,
        address=args.host,
        port=args.port,
        interface=Interfaces.ASGI,
        workers=1,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        websockets=True,
        backlog=2048,  # uvicorn's default
        backpressure=BACKPRESSURE,
        log_level=LogLevels(settings.log_level.lower()),
        log_access=False,
    ).serve()


if __name__ == "__main__":
    main()
