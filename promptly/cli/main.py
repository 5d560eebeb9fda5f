"""`promptly`: the operator's command line (typer)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from temporalio.client import Client

from promptly.cli.appointments import appointments_app
from promptly.cli.billing import billing_command
from promptly.cli.calendar import calendar_app
from promptly.cli.common import run_with_client, settings
from promptly.cli.complaints import complaint_app
from promptly.cli.db import roles as db_roles
from promptly.cli.demo import demo_command
from promptly.cli.history import history_app
from promptly.cli.holds import holds_app
from promptly.cli.inquiries import inquiry_app
from promptly.cli.messages import messages_command
from promptly.cli.outbox import outbox_command
from promptly.cli.promises import promises_command
from promptly.cli.report import report_command
from promptly.cli.secrets import secrets_app
from promptly.cli.sms import sms_app
from promptly.cli.tasks import tasks_app
from promptly.cli.views import views_command
from promptly.cli.webhooks import webhooks_app
from promptly.config import Settings

app = typer.Typer(
    help="Promptly: appointments and complaints on time, on the record.", no_args_is_help=True
)
app.add_typer(appointments_app)  # book, status, confirm, … at the top level
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
db_app.command("roles")(db_roles)
app.add_typer(complaint_app, name="complaint")
app.add_typer(inquiry_app, name="inquiry")
app.add_typer(history_app, name="history")
app.add_typer(holds_app, name="hold")
app.add_typer(tasks_app, name="tasks")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(calendar_app, name="calendar")
app.add_typer(sms_app, name="sms")
app.add_typer(secrets_app, name="secrets")
app.command("report")(report_command)
app.command("promises")(promises_command)
app.command("billing")(billing_command)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations as the schema owner (PROMPTLY_MIGRATION_DATABASE_URL when
    set), then grant the application's role (PROMPTLY_DATABASE_URL) its privileges."""
    from promptly import db

    config = settings()
    applied = db.migrate(config.database_url, config.migration_database_url)
    typer.echo(f"applied {applied} migration(s)")


@app.command()
def setup(
    create_namespace: Annotated[
        bool,
        typer.Option(
            help="register the namespace when it is missing (self-hosted clusters), with "
            "PROMPTLY_RETENTION as its history retention"
        ),
    ] = False,
) -> None:
    """Prepare the configured namespace (idempotent): check it, register Promptly's search
    attributes, create or update the archive, purge and QA report schedules."""
    from promptly.services.setup import (
        NamespaceCheck,
        NamespaceProblem,
        check_namespace,
        ensure_schedules,
        register_search_attributes,
    )

    async def action(
        client: Client, config: Settings
    ) -> tuple[NamespaceCheck, list[str], list[str]]:
        namespace = await check_namespace(
            client,
            client.namespace,
            create_with_retention=config.retention if create_namespace else None,
        )
        added = await register_search_attributes(client, client.namespace)
        return namespace, added, await ensure_schedules(client, config)

    try:
        namespace, added, created = run_with_client(action)
    except NamespaceProblem as problem:
        typer.secho(str(problem), fg="red", err=True)
        raise typer.Exit(1) from problem
    retention = f"{namespace.retention.days}d" if namespace.retention else "unlimited"
    typer.echo(
        f"namespace {namespace.namespace}: {'created' if namespace.created else 'exists'}, "
        f"history retention {retention}"
    )
    for warning in namespace.warnings:
        typer.secho(f"warning: {warning}", fg="yellow", err=True)
    typer.echo(f"search attributes added: {', '.join(added) or 'none (all present)'}")
    typer.echo(f"schedules created: {', '.join(created) or 'none (all present, updated)'}")


@app.command()
def worker() -> None:
    """Run the worker (migrations applied first; with PROMPTLY_MIGRATE_AT_START=false it
    refuses to start while one is pending)."""
    from promptly.worker import main

    main()


@app.command()
def dev(
    port: int = 7233,
    ui_port: int = 8233,
    api_port: int = 8000,
    sms_port: Annotated[
        int, typer.Option(help="the local Twilio fake (only without PROMPTLY_TWILIO_ACCOUNT_SID)")
    ] = 8234,
    data: Path = Path(".data"),
) -> None:
    """Embedded stack: Temporal dev server + UI, PostgreSQL, worker, API :8000. Ctrl-C stops all."""
    from promptly.dev import stack as devstack
    from promptly.dev.ports import PortTaken

    try:
        devstack.run(data, port, ui_port, api_port, sms_port)
    except PortTaken as taken:
        typer.secho(str(taken), fg="red", err=True)
        raise typer.Exit(1) from taken


@app.command()
def api(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    log_config: Annotated[
        Path | None, typer.Option(help="uvicorn logging config (JSON or YAML)")
    ] = None,
) -> None:
    """Serve the HTTP API alone (production: one process per replica, behind a proxy)."""
    from promptly.api.server import serve
    from promptly.dev.ports import PortTaken

    try:
        serve(host, port, log_config)
    except PortTaken as taken:
        typer.secho(str(taken), fg="red", err=True)
        raise typer.Exit(1) from taken


app.command("demo")(demo_command)
app.command("outbox")(outbox_command)
app.command("messages")(messages_command)
app.command("views")(views_command)


def main() -> None:
    """The `promptly` console script: every command ends without the native-runtime crash."""
    from promptly.process import run_then_exit

    run_then_exit(app)


if __name__ == "__main__":
    main()
