"""`promptly views`: the Temporal UI's first lists as links to open (or save as views)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from promptly.domain.ui_views import ui_views


def views_command(
    ui: Annotated[
        str | None,
        typer.Option(help="the Temporal UI's address [default: PROMPTLY_TEMPORAL_UI_URL]"),
    ] = None,
) -> None:
    """Links to the Temporal UI lists ops open first (unconfirmed visits tomorrow, breached
    complaints...), with their queries to save as views."""
    from promptly.cli.common import settings

    config = settings()
    address = ui or config.temporal_ui_url
    now = datetime.now(UTC)
    for view in ui_views(now, config.office_timezone, address, config.temporal_namespace):
        typer.echo(f"{view.name}\n  query: {view.query}\n  open:  {view.url}\n")
