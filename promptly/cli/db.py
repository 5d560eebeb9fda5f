"""`promptly db roles`: the least-privilege PostgreSQL roles and databases, made or reset by a
superuser from the generated passwords (promptly/db/privileges.py, docs/security.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from promptly.config import _private_file
from promptly.db.privileges import APP_ROLE, OWNER_ROLE, TEMPORAL_ROLE, provision_roles


def roles(
    admin_url: Annotated[
        str,
        typer.Option(
            help="A superuser's connection (password in a passfile: ?passfile=/path).",
            envvar="PROMPTLY_DATABASE_ADMIN_URL",
        ),
    ],
    passwords: Annotated[
        Path,
        typer.Option(help="The folder of <role>.password files (`promptly secrets database`)."),
    ],
    database: Annotated[str, typer.Option(help="Promptly's database.")] = "promptly",
    temporal: Annotated[
        bool, typer.Option(help="Also Temporal's role and its two databases.")
    ] = True,
) -> None:
    """Create or reset the owner, application and Temporal roles (passwords from --passwords)
    and their databases; idempotent, so a rerun after `secrets database --rotate` rotates."""
    names = [OWNER_ROLE, APP_ROLE, *([TEMPORAL_ROLE] if temporal else [])]
    found = {role: _private_file(passwords / f"{role}.password").strip() for role in names}
    provision_roles(
        admin_url,
        found,
        database=database,
        temporal=TEMPORAL_ROLE if temporal else None,
    )
    typer.echo(f"roles {', '.join(names)} ready; database {database} owned by {OWNER_ROLE}")
