"""Who a `promptly` command is recorded as: the person running it.

The CLI has no API key, so it takes the operating-system user as its credential: by default
an action is `staff:<OS user> via cli`. `--actor-id` (and `--actor-kind` where a command
offers it) records an action taken for someone else, and the record still says it came
through the CLI (`provider:P-3 via cli`), as the API keeps the key's name in `via`. A client
or provider named so must be the case's own (services/case_parties.py, as the API checks):
anyone else is bad input, exit 2, and nothing is sent.
"""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from psycopg_pool import AsyncConnectionPool
from pydantic import ValidationError
from temporalio.client import Client

from promptly.config import Settings
from promptly.domain.common import Actor, ActorKind
from promptly.services.case_kinds import CaseKind
from promptly.services.case_parties import parties, stranger
from promptly.services.case_views import one_connection

# The `via` of everything the CLI records: the channel it came through.
VIA = "cli"

ActorIdOption = Annotated[
    str | None,
    typer.Option(
        "--actor-id",
        help="act for someone else: their id (recorded as theirs, via cli); "
        "default: you, as staff:<your OS user name>",
    ),
]


def operator() -> str:
    """The OS user running the command (LOGNAME, USER, … then the password database)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError) as err:
        typer.secho(
            "cannot tell who runs promptly (no OS user name): set USER, or name the actor "
            "with --actor-id",
            fg="red",
            err=True,
        )
        raise typer.Exit(2) from err


def cli_actor(
    actor_kind: ActorKind | None, actor_id: str | None, named: ActorKind = ActorKind.STAFF
) -> Actor:
    """The actor a command records: `staff:<OS user> via cli` when nobody is named; else the
    named one (`actor_kind`, or the command's usual kind `named` when only an id is given),
    always `via cli`. A client, provider or system needs its id (exit 2 without one)."""
    kind = actor_kind or (named if actor_id is not None else ActorKind.STAFF)
    if actor_id is None:
        if kind is not ActorKind.STAFF:
            typer.secho(f"--actor-id: say which {kind.value} acts", fg="red", err=True)
            raise typer.Exit(2)
        actor_id = operator()
    try:
        return Actor(kind=kind, id=actor_id, via=VIA)
    except ValidationError as err:
        typer.secho(f"--actor-id: {err.errors()[0]['msg']}", fg="red", err=True)
        raise typer.Exit(2) from err


async def refuse_foreign_party(
    client: Client,
    config: Settings,
    kind: CaseKind,
    workflow_id: str,
    actor: Actor,
    pool: AsyncConnectionPool | None = None,
) -> None:
    """Exit 2 naming `--actor-id` when `actor` is a client or provider this case is not about.
    A missing case raises as the workflow's query does (not found, exit 1)."""
    if actor.kind not in (ActorKind.CLIENT, ActorKind.PROVIDER):
        return
    if pool is None:
        async with one_connection(config.database_url) as own:
            of_case = await parties(client, own, kind.viewed, workflow_id)
    else:
        of_case = await parties(client, pool, kind.viewed, workflow_id)
    for _, reason in stranger(actor, kind.noun, of_case):
        typer.secho(f"--actor-id: {reason}; nothing was sent", fg="red", err=True)
        raise typer.Exit(2)
