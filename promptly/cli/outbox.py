"""`promptly outbox [--to ADDRESS] [--follow]`: read the dev outbox in the terminal."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from promptly.domain.readable_time import readable
from promptly.services.outbox import OutboxMessage, read_outbox


def format_message(message: OutboxMessage, timezone: str) -> str:
    """One message as the client would read it, with where it went and its links."""
    lines = [
        f"── #{message.id}  {readable(message.created_at, timezone)}  {message.channel} → "
        f"{message.recipient}  ({message.case_id}, {message.template})",
        f"Subject: {message.subject}",
        "",
        message.body.rstrip(),
    ]
    if message.links:
        lines += ["", "Links:", *(f"  {link}" for link in message.links)]
    return "\n".join(lines) + "\n"


def outbox_command(
    to: Annotated[str | None, typer.Option(help="only messages to this address or number")] = None,
    last: Annotated[int, typer.Option(min=1, max=500, help="how many to show")] = 10,
    follow: Annotated[bool, typer.Option(help="keep printing new messages (Ctrl-C stops)")] = False,
) -> None:
    """Messages the outbox channel kept (no provider key set): as the client reads them."""
    from promptly.cli.common import settings
    from promptly.client import open_pool

    config = settings()

    async def show() -> None:
        async with open_pool(config) as pool:
            messages = await read_outbox(pool, to=to, last=last)
            if not messages and not follow:
                typer.echo("the outbox is empty" + (f" for {to}" if to else ""))
            last_id = 0
            while True:
                for message in messages:
                    typer.echo(format_message(message, config.office_timezone))
                    last_id = message.id
                if not follow:
                    return
                await asyncio.sleep(1)
                messages = await read_outbox(pool, to=to, after_id=last_id, last=500)

    try:
        asyncio.run(show())
    except KeyboardInterrupt:
        pass
