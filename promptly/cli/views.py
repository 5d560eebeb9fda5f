"""`promptly views`: the Temporal UI's first lists as links to open (or save as views)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from promptly.domain.ui_views import ui_views


def views_command(
    ui: Annotated[str, typer.Option(help="the Temporal UI's address")] = "http://localhost:8233",
) -> None:
    """Links to the Temporal UI lists ops open first (unconfirmed visits tomorrow, breached
    complaints...), with their queries to save as views."""
    from promptly.cli.common import settings

    config = settings()
    for view in ui_views(datetime.now(UTC), config.office_timezone, ui, config.temporal_namespace):
        typer.echo(f"{view.name}\n  query: {view.query}\n  open:  {view.url}\n")
