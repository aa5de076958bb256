"""The product under uvicorn with its plain httptools protocol, to compare server stacks:
`python -m benchmarks.uvicorn_asgi_server --port P`, with the same environment as `salon
serve`. Benchmark-only: it measures what app.server.SalonHttpProtocol's direct streams save,
since here every stream goes through the ASGI app (app.api.fast_streams.SalonAPI).

Everything else is `salon serve`'s (app.cli.serve, app.server.run), repeated here because
run() fixes the protocol: keep the two alike.
"""

from __future__ import annotations

import argparse

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.core.config import get_settings
from app.core.logging import configure_logging
from app.db.migrate import upgrade_database
from app.main import create_app
from app.server import TransportAccess


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    settings = get_settings()
    configure_logging(
        settings.log_level,
        settings.log_format,
        (settings.secret_key, settings.first_superadmin_password),
    )
    upgrade_database(settings.database_url)
    config = uvicorn.Config(
        TransportAccess(create_app(settings)),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http=HttpToolsProtocol,
        ws="websockets-sansio",
        lifespan="on",
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=15,
        log_config=None,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
