"""`--idempotency-key` for the CLI's commands that change a case.

Each invocation sends one stable key (the one given, or a new one printed on stderr), and
the update id is derived from it: running the same command again with the printed key after
a timeout or a lost connection is applied once, and prints the first outcome.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from promptly.services.idempotency import InvalidIdempotencyKey, check_key, derived_id, new_key

IdempotencyKeyOption = Annotated[
    str | None,
    typer.Option(
        "--idempotency-key",
        help="repeat a command safely: the same key is applied once (default: a new key, "
        "printed on stderr)",
    ),
]


def command_key(given: str | None) -> str:
    """The invocation's key: the one given (checked), else a new one, printed either way."""
    if given is None:
        key = new_key()
    else:
        try:
            key = check_key(given)
        except InvalidIdempotencyKey as err:
            typer.secho(f"--idempotency-key: {err}", fg="red", err=True)
            raise typer.Exit(2) from err
    typer.echo(f"idempotency key: {key}", err=True)
    return key


def cli_update_id(key: str, workflow_id: str, update: Any) -> str:
    """The update id of one CLI command on one case."""
    name = getattr(update, "__name__", "update")
    return derived_id(key, "cli", workflow_id, name)
