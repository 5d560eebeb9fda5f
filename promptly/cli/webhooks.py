"""`promptly webhooks …`: what the outbound webhooks delivered, retry and gave up, and the
secret each receiver verifies its events with."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from psycopg import AsyncConnection
from pydantic import AnyHttpUrl, TypeAdapter, ValidationError

from promptly.cli import common
from promptly.config import MissingSecret
from promptly.domain.webhooks import WebhookDelivery, WebhookDeliveryStatus, url_secret
from promptly.services.webhooks import list_deliveries, redeliver

webhooks_app = typer.Typer(
    help="Outbound webhooks (PROMPTLY_WEBHOOK_URLS): the deliveries recorded in PostgreSQL, "
    "and each receiver's signing secret.",
    no_args_is_help=True,
)


def _line(delivery: WebhookDelivery) -> str:
    code = "-" if delivery.last_status_code is None else str(delivery.last_status_code)
    if delivery.delivered_at is not None:
        state = f"delivered {delivery.delivered_at.isoformat(timespec='seconds')}"
    elif delivery.status is WebhookDeliveryStatus.PENDING:
        state = f"next try {delivery.next_attempt_at.isoformat(timespec='seconds')}"
    else:
        state = delivery.last_error or ""
    return (
        f"{delivery.id:>6}  {delivery.created_at.isoformat(timespec='seconds')}  "
        f"{delivery.status.value:<9} {delivery.attempts:>2}x {code:>3}  {delivery.event_id}  "
        f"{delivery.url}  {state}"
    )


@webhooks_app.command("list")
def list_command(
    status: Annotated[
        WebhookDeliveryStatus | None, typer.Option(help="only pending, delivered or failed")
    ] = None,
    case_id: Annotated[
        str | None, typer.Option("--case", help="one case's, by workflow id")
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(help="only events queued at or after this time (ISO 8601; UTC if no zone)"),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Deliveries, newest first: id, recorded, status, attempts, last HTTP code, event, URL,
    then when delivered, when next tried, or why it failed."""

    config = common.settings()

    async def main() -> list[WebhookDelivery]:
        async with await AsyncConnection[Any].connect(config.database_url) as conn:
            return await list_deliveries(conn, status, case_id, limit, _aware(since))

    deliveries = asyncio.run(main())
    if not config.webhook_urls:
        typer.secho("webhooks are off (PROMPTLY_WEBHOOK_URLS is empty)", fg="yellow", err=True)
    for delivery in deliveries:
        typer.echo(_line(delivery))
    if not deliveries:
        typer.echo("no deliveries", err=True)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


class Resendable(StrEnum):
    FAILED = "failed"
    DELIVERED = "delivered"


@webhooks_app.command("redeliver")
def redeliver_command(
    ids: Annotated[list[int] | None, typer.Argument(help="delivery ids (from `list`)")] = None,
    case_id: Annotated[str | None, typer.Option("--case", help="this case's deliveries")] = None,
    since: Annotated[
        datetime | None,
        typer.Option(help="deliveries of events queued at or after this time (UTC if no zone)"),
    ] = None,
    status: Annotated[
        Resendable | None,
        typer.Option(help="only failed or delivered ones (default: failed; either for ids named)"),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            help="only deliveries to this receiver (its URL, as in PROMPTLY_WEBHOOK_URLS)"
        ),
    ] = None,
) -> None:
    """Send deliveries again: tried at once, with a fresh day of retries. After a receiver's
    outage: `--status failed --since <when it began>`; to a receiver that lost its data:
    `--status delivered --since <when> --url <its URL>` (without --url, every receiver gets
    them again). Pending ones are left as they are."""

    if not ids and case_id is None and since is None and status is None and url is None:
        typer.secho(
            "name the deliveries: ids, --case, --since, --status or --url", fg="red", err=True
        )
        raise typer.Exit(2)
    receiver = None
    if url is not None:
        try:
            receiver = str(TypeAdapter(AnyHttpUrl).validate_python(url))
        except ValidationError:
            typer.secho(f"not an http(s) URL: {url}", fg="red", err=True)
            raise typer.Exit(2) from None
    config = common.settings()
    chosen = None if status is None else WebhookDeliveryStatus(status.value)

    async def main() -> list[int]:
        async with await AsyncConnection[Any].connect(config.database_url) as conn:
            return await redeliver(conn, ids or (), case_id, _aware(since), chosen, receiver)

    requeued = asyncio.run(main())
    typer.echo(f"requeued {len(requeued)}: {' '.join(map(str, requeued)) or '-'}")


@webhooks_app.command("secret")
def secret_command(
    url: Annotated[str, typer.Argument(help="the receiver's URL, as in PROMPTLY_WEBHOOK_URLS")],
) -> None:
    """Print the secret the receiver at URL verifies its events with (Promptly-Signature):
    its own, derived from the master secret, so no receiver can sign events for another.
    Give it to that receiver only, e.g. as its WEBHOOK_SECRET."""

    config = common.settings()
    try:
        spelled = str(TypeAdapter(AnyHttpUrl).validate_python(url))
    except ValidationError:
        typer.secho(f"not an http(s) URL: {url}", fg="red", err=True)
        raise typer.Exit(2) from None
    if spelled not in {str(configured) for configured in config.webhook_urls}:
        typer.secho(
            f"{spelled} is not in PROMPTLY_WEBHOOK_URLS (yet): this is its secret once it is",
            fg="yellow",
            err=True,
        )
    try:
        master = config.master_secret()
    except MissingSecret as missing:
        typer.secho(str(missing), fg="red", err=True)
        raise typer.Exit(2) from None
    if config.webhook_secret is not None:
        typer.secho(
            "PROMPTLY_WEBHOOK_SECRET is set: every URL's events are signed with it until it is "
            "unset; then with this URL's own secret (below)",
            fg="yellow",
            err=True,
        )
    typer.echo(url_secret(master, spelled))
