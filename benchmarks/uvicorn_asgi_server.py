"""The product under uvicorn with its plain httptools protocol, to compare server stacks:
`python -m benchmarks.uvicorn_asgi_server --port P`, with the same environment as `salon
serve`. Benchmark-only: it measures what app.server.SalonHttpProtocol's direct streams save,
since here every stream goes through the ASGI app (app.api.fast_streams.SalonAPI).

Everything else is `salon serve`'s (app.server.run, given uvicorn's own protocol).
"""

from __future__ import annotations

import argparse

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.core.config import get_settings
from app.core.logging import configure_logging_from
from app.db.migrate import upgrade_database
from app.main import create_app
from app.server import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    settings = get_settings()
    configure_logging_from(settings)
    upgrade_database(settings.database_url)
    app = create_app(settings)
    run(
        app,
        args.host,
        args.port,
        settings.log_level.lower(),
        log_config=None,
        http=HttpToolsProtocol,
    )


if __name__ == "__main__":
    main()
