"""`televisit serve | migrate | demo | users create | openapi | asyncapi | conformance`."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from televisit.core.config import ConfigError, DefaultSettings, Settings, load_settings
from televisit.users.models import Role

if TYPE_CHECKING:  # imported where used: the CLI starts fast
    from televisit.users.schemas import AdminUserCreate

# Never the locals in a crash's traceback: `users create` holds a password, serve the settings.
app = typer.Typer(help="Televisit: self-hosted telemedicine video visits.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)
users_app = typer.Typer(help="Manage accounts.", no_args_is_help=True, pretty_exceptions_show_locals=False)
app.add_typer(users_app, name="users")


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        typer.secho(f"Configuration error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None


def _migrate(settings: Settings) -> None:
    from televisit.migrations import upgrade

    upgrade(settings.database_url)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    settings = _settings()
    _migrate(settings)
    typer.echo("Database is up to date.")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Run the server (migrates first in development)."""
    from televisit.app import create_app
    from televisit.ops.server import DrainingServer, raise_open_files_limit, server_config
    from televisit.runtime import runtime_of

    settings = _settings()
    if settings.env == "development":
        _migrate(settings)
    host = host or settings.host
    port = port or settings.port
    docs = "  (API docs: /api/v1/docs)" if settings.effective_api_docs else ""
    typer.echo(f"Televisit is running at http://{host}:{port}/{docs}")
    application = create_app(settings)
    raise_open_files_limit(settings.limit_concurrency)
    config = server_config(application, settings, host=host, port=port)
    DrainingServer(config, runtime_of(application), settings.drain_grace).run()


DEMO_PASSWORD = "televisit-demo-visit"  # noqa: S105 - printed for the demo on purpose
DEMO_PEOPLE = (
    ("admin@demo.televisit.test", "Ada Admin", Role.admin),
    ("doctor@demo.televisit.test", "Dr. Grace Hopper", Role.doctor),
    ("alice@demo.televisit.test", "Alice Patient", Role.patient),
    ("bob@demo.televisit.test", "Bob Patient", Role.patient),
)


async def _demo(settings: Settings) -> None:
    from televisit.appointments import service as appointments
    from televisit.appointments.repository import AppointmentRepository
    from televisit.core.clock import SystemClock
    from televisit.core.db import create_engine, create_sessionmaker, session_scope
    from televisit.core.security import Passwords
    from televisit.users import service as users
    from televisit.users.repository import UserRepository

    engine = create_engine(settings)
    passwords = Passwords(settings)
    now = SystemClock().now().replace(second=0, microsecond=0)
    try:
        async with session_scope(create_sessionmaker(engine)) as session:
            repo = UserRepository(session)
            people = {}
            for email, name, role in DEMO_PEOPLE:
                user = await repo.get_by_email(email) or await users.create_user(
                    session, passwords=passwords, email=email, password=DEMO_PASSWORD,
                    full_name=name, role=role, now=now,
                )
                people[email] = user
            doctor = people["doctor@demo.televisit.test"]
            existing = await AppointmentRepository(session).list_for_user(
                doctor.id, status=None, starts_from=now, starts_to=None, after=None, limit=1, now=now,
            )
            if not existing:
                for i, email in enumerate(("alice@demo.televisit.test", "bob@demo.televisit.test")):
                    await appointments.book(
                        session, settings=settings, doctor=doctor, patient_id=people[email].id,
                        starts_at=now + timedelta(minutes=5 + 60 * i), duration_minutes=30,
                        reason="Demo visit", now=now,
                    )
    finally:
        await engine.dispose()


@app.command()
def demo() -> None:
    """Create demo accounts and upcoming visits (idempotent) and print how to sign in."""
    settings = _settings()
    if settings.env == "production":
        typer.secho("Refusing to create demo accounts in production.", fg="red", err=True)
        raise typer.Exit(2)
    _migrate(settings)
    asyncio.run(_demo(settings))
    typer.echo(f"Demo accounts (password for all: {DEMO_PASSWORD}):")
    for email, name, role in DEMO_PEOPLE:
        typer.echo(f"  {role.value:8} {email:32} {name}")


@app.command("push-keys")
def push_keys() -> None:
    """Print a new VAPID key pair for Web Push (TELEVISIT_PUSH_VAPID_PRIVATE_KEY). Browsers
    subscribe with the public key: a new key makes every device turn ringing on again."""
    from televisit.push import vapid

    private = vapid.generate_private_key()
    public = vapid.public_key(vapid.key_from_text(private))
    typer.echo(f"TELEVISIT_PUSH_VAPID_PRIVATE_KEY={private}")
    typer.echo(f"# public key (what browsers subscribe with): {public}")


@users_app.command("create")
def users_create(
    role: Annotated[Role, typer.Option(help="doctor, patient or admin.")],
    email: Annotated[str, typer.Option()],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    name: Annotated[str, typer.Option(help="Full name.")],
) -> None:
    """Create an account of any role."""
    from pydantic import TypeAdapter, ValidationError

    from televisit.users.schemas import AdminUserCreate

    try:
        body = TypeAdapter(AdminUserCreate).validate_python(
            {"email": email, "password": password, "full_name": name, "role": role}
        )
    except ValidationError as exc:
        typer.secho(f"Invalid input: {exc.errors()[0]['loc'][-1]}: {exc.errors()[0]['msg']}",
                    fg="red", err=True)
        raise typer.Exit(2) from None
    settings = _settings()
    user = asyncio.run(_create_user(settings, body))
    typer.echo(f"Created {user['role']} {user['email']} (id {user['id']}).")


async def _create_user(settings: Settings, body: AdminUserCreate) -> dict[str, str]:
    from televisit.core.clock import SystemClock
    from televisit.core.db import create_engine, create_sessionmaker, session_scope
    from televisit.core.errors import AppError
    from televisit.core.security import Passwords
    from televisit.users import service

    engine = create_engine(settings)
    try:
        async with session_scope(create_sessionmaker(engine)) as session:
            user = await service.create_user(
                session, passwords=Passwords(settings), email=body.email,
                password=body.password, full_name=body.full_name, role=body.role,
                now=SystemClock().now(),
            )
            return {"id": str(user.id), "email": user.email, "role": str(user.role)}
    except AppError as exc:
        typer.secho(f"Could not create the account: {exc.message}", fg="red", err=True)
        raise typer.Exit(1) from None
    finally:
        await engine.dispose()
    raise RuntimeError("unreachable")


@app.command()
def openapi() -> None:
    """Print the OpenAPI document (what openapi.json at the repository root holds)."""
    from televisit.app import create_app

    document = create_app(DefaultSettings(), configure_logs=False).openapi()
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=False) + "\n")


@app.command()
def asyncapi() -> None:
    """Print the AsyncAPI document of the WebSocket (what asyncapi.json at the repository root holds)."""
    from televisit.signaling.asyncapi import document

    sys.stdout.write(json.dumps(document(), indent=2) + "\n")


@app.command(add_help_option=False,
             context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def conformance(ctx: typer.Context) -> None:
    """Check a running server against the contract: `televisit conformance URL --admin-email E ...`
    runs the conformance kit (its options: `televisit conformance --help`; docs/conformance.md)."""
    try:  # the kit lives in a checkout (conformance/), not in the installed package
        from conformance.cli import main as run_kit
    except ImportError as exc:
        typer.secho(f"The conformance kit is not available ({exc}): run it from a checkout after "
                    "`make setup`.", fg="red", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(run_kit(ctx.args, prog="televisit conformance"))


def main() -> None:
    app()
