"""What every `promptly` command shares: its settings and a run with a Temporal client."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from promptly.config import Settings
from promptly.dev.local_env import ENV_FILE_VARIABLE, LOCAL_ENV
from promptly.domain.qa_report import Period
from promptly.services.errors import WORKFLOW_TASK_FAILING, workflow_task_failing

T = TypeVar("T")


# A period of days in the office timezone: `--from 2026-11-01 --to 2026-11-30`.
FirstDayOption = Annotated[
    datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First day (office timezone).")
]
LastDayOption = Annotated[
    datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day, inclusive.")
]


def settings() -> Settings:
    named = os.environ.get(ENV_FILE_VARIABLE)
    if named:  # asked for by name: a missing file is the operator's mistake, said in one line
        with Path(named).open(encoding="utf-8"):
            return Settings(_env_file=Path(named))
    return Settings(_env_file=LOCAL_ENV if LOCAL_ENV.exists() else None)


# A case's own refusal names the update already: `close refused: the complaint is Closed`.
_NAMES_ITS_REFUSAL = re.compile(r"^\w+ refused: ")


def say_refused(reason: str) -> None:
    """The line a refused command ends with, said once: `refused: …` unless it says so."""
    line = reason if _NAMES_ITS_REFUSAL.match(reason) else f"refused: {reason}"
    typer.secho(line, fg="red", err=True)


def office_period(first: datetime, last: datetime, config: Settings) -> Period:
    """The days `first`..`last` in the office timezone; a backwards period is bad input."""
    try:
        return Period(first.date(), last.date(), config.office_timezone)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err


def run_with_client(action: Callable[[Client, Settings], Awaitable[T]]) -> T:
    """Run `action` with a Temporal client that connects on its first call: a command that
    reads PostgreSQL (a case's recorded status, the task list) answers while Temporal is
    down, and one that needs Temporal fails at that call, in one line (promptly.process)."""
    from promptly.client import make_client

    async def main() -> T:
        config = settings()
        return await action(await make_client(config, lazy=True), config)

    try:  # an unreachable Temporal is the process's last word (promptly.process)
        return asyncio.run(main())
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        reason = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
        say_refused(reason)
        raise typer.Exit(1) from err
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            typer.secho(f"not found: {err.message}", fg="red", err=True)
            raise typer.Exit(1) from err
        if workflow_task_failing(err):
            typer.secho(WORKFLOW_TASK_FAILING, fg="red", err=True)
            raise typer.Exit(1) from err
        raise
