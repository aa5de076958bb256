"""What the benchmark's launchers of the product (other server stacks than `salon serve`)
do first, as `salon serve` does: read --host/--port and the settings, migrate."""

from __future__ import annotations

import argparse

from app.core.config import Settings, get_settings
from app.db.migrate import upgrade_database


def prepare(description: str) -> tuple[argparse.Namespace, Settings]:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    settings = get_settings()
    upgrade_database(settings.database_url)
    return args, settings
