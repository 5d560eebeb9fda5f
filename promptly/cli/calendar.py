"""`promptly calendar …`: providers' calendar feed URLs, issued and revoked."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from psycopg import AsyncConnection

from promptly.cli import common
from promptly.domain import feed_tokens
from promptly.services.calendar_feeds import feed_url, issue_token, revoke_token

calendar_app = typer.Typer(
    help="Providers' calendar feeds (GET /calendars/providers/{id}.ics?token=…).",
    no_args_is_help=True,
)

ProviderId = Annotated[str, typer.Argument(help="the provider's id, e.g. P-3")]


@calendar_app.command("token")
def token_command(provider_id: ProviderId) -> None:
    """Print the provider's feed URL to subscribe to (the same one until it is revoked)."""

    config = common.settings()
    key = feed_tokens.feed_key(config.master_secret())

    async def main() -> str:
        async with await AsyncConnection[Any].connect(config.database_url) as conn:
            return await issue_token(conn, provider_id, key)

    token = asyncio.run(main())
    typer.echo(feed_url(config.public_base_url, provider_id, token))


@calendar_app.command("revoke")
def revoke_command(provider_id: ProviderId) -> None:
    """Stop every feed URL of the provider at once; `token` then issues a new one."""

    config = common.settings()

    async def main() -> bool:
        async with await AsyncConnection[Any].connect(config.database_url) as conn:
            return await revoke_token(conn, provider_id)

    if not asyncio.run(main()):
        typer.secho(f"{provider_id} has no calendar feed", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked every calendar feed URL of {provider_id}")
