"""The `salon` command: serve, create-superadmin, db upgrade."""

from __future__ import annotations

import asyncio
import shlex

import typer
from pydantic import ValidationError

from app.broker import missing_extra
from app.core.config import Settings, get_settings, weak_secret_key
from app.core.logging import configure_logging_from
from app.db.migrate import upgrade_database
from app.db.session import create_engine, create_session_factory
from app.schemas.account import AccountCreate
from app.services.accounts import AccountService
from app.services.bootstrap import Demo, ensure_demo
from app.services.errors import Conflict

cli = typer.Typer(help="Salon booking backend with real-time notifications.", no_args_is_help=True)
db_cli = typer.Typer(help="Database commands.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")


@cli.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    demo: bool = typer.Option(False, "--demo", help="Fill an empty database with demo data."),
    workers: int = typer.Option(
        1,
        min=1,
        max=64,
        help="Processes sharing the port; more than one needs BROKER_URL=redis://.",
    ),
) -> None:
    """Migrate the database, then run the server."""
    from app.main import create_app
    from app.server import run

    settings = get_settings()
    configure_logging_from(settings)
    refusal = missing_extra(settings.broker_url) or (None if demo else weak_secret_key(settings))
    if refusal is not None:
        typer.echo(refusal, err=True)
        raise typer.Exit(2)
    if demo and weak_secret_key(settings):
        typer.echo("--demo: SECRET_KEY is too short for anything but a demo", err=True)
    if workers > 1 and not settings.broker_url.startswith(("redis://", "rediss://")):
        typer.echo("--workers needs BROKER_URL=redis://...: each worker is an instance", err=True)
        raise typer.Exit(2)
    upgrade_database(settings.database_url)
    if demo:
        _print_demo(asyncio.run(_demo(settings)), host, port)
    # log_config=None: uvicorn logs through the handler configure_logging_from set up.
    app = create_app(settings)
    run(
        app,
        host,
        port,
        settings.log_level.lower(),
        workers=workers,
        log_config=None,
        forwarded_allow_ips=settings.trusted_proxies,
    )


@cli.command("create-superadmin")
def create_superadmin(
    email: str = typer.Option(..., help="Login email."),
    password: str = typer.Option(..., help="Password: at least 10 characters, not a common one."),
    full_name: str = typer.Option("Superadmin", help="Display name."),
) -> None:
    """Create a superadmin account (migrating the database first)."""
    try:
        data = AccountCreate(email=email, password=password, full_name=full_name)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        typer.echo(problems, err=True)
        raise typer.Exit(1) from exc
    settings = get_settings()
    upgrade_database(settings.database_url)
    try:
        asyncio.run(_create_superadmin(settings, data))
    except Conflict as exc:
        typer.echo(exc.detail, err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"superadmin {email} created")


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration to DATABASE_URL."""
    upgrade_database(get_settings().database_url)
    typer.echo("database is up to date")


async def _create_superadmin(settings: Settings, data: AccountCreate) -> None:
    engine = create_engine(settings.database_url, settings)
    try:
        async with create_session_factory(engine)() as session:
            await AccountService(session).create_user(data, "superadmin")
    finally:
        await engine.dispose()


async def _demo(settings: Settings) -> Demo | None:
    engine = create_engine(settings.database_url, settings)
    try:
        async with create_session_factory(engine)() as session:
            return await ensure_demo(session, settings)
    finally:
        await engine.dispose()


def _print_demo(demo: Demo | None, host: str, port: int) -> None:
    if demo is None:
        typer.echo("--demo: the database already holds other data; no demo accounts made.")
        return
    base = f"http://{'localhost' if host in ('0.0.0.0', '127.0.0.1') else host}:{port}"
    lines = ["", "Demo " + ("created" if demo.created else "found") + f" (salon {demo.salon_id}):"]
    for login in demo.logins:
        lines += [
            f"  {login.role:<9} {login.email} / {login.password}",
            f"            token: {login.token}",
        ]
    admin = demo.logins[0]
    auth = shlex.quote(f"Authorization: Bearer {admin.token}")
    lines += [
        "",
        f"Open the dashboard: {base}/",
        "  sign in as the admin in one window and as the customer in a private window (or",
        "  another browser: one session cookie per browser); book as the customer and watch",
        "  the booking arrive on the admin's page.",
        "",
        "Watch the admin stream:",
        f"  curl -N -H {auth} {base}/api/v1/notifications/stream",
        "Then, in another terminal, send the salon a notification:",
        f"  curl -X POST -H {auth} -H 'Content-Type: application/json' \\",
        '    -d \'{"notification_type":"hello","title":"Hello","message":"It works",'
        f'"recipient_type":"salon","salon_id":{demo.salon_id}}}\' \\',
        f"    {base}/api/v1/notifications",
        f"API docs: {base}/docs",
        "",
    ]
    typer.echo("\n".join(lines))


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
