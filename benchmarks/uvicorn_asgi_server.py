"""The product under uvicorn with its plain httptools protocol, to compare server stacks:
`python -m benchmarks.uvicorn_asgi_server --port P`, with the same environment as `salon
serve`. Benchmark-only: it measures what app.server.SalonHttpProtocol's direct streams save,
since here every stream goes through the ASGI app (FastAPI's routes).

Everything else is `salon serve`'s (app.server.run, given uvicorn's own protocol).
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.core.logging import configure_logging_from
from app.main import create_app
from app.server import run
from benchmarks.launch import prepare


def main() -> None:
    args, settings = prepare(__doc__.split("\n\n")[0])
    configure_logging_from(settings)
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
