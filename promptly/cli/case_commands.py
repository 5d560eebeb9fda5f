"""The commands every case kind has, made from the case-kind registry
(promptly/services/case_kinds.py): start it from a JSON file, show its status, and one
command per update, spelled as the update's `Cli` says.

An update command runs the workflow update with an idempotency key (`--idempotency-key`, or
a new one printed on stderr) and prints the case after it; bad input exits 2 naming the field,
a refusal by the case's rules exits 1 (promptly/cli/common.py). Every command is recorded as
the person running it, or as whom `--actor-id` names, via cli (promptly/cli/actors.py).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum, StrEnum
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, NoReturn, Union, get_args, get_origin

import annotated_types
import typer
from pydantic import AwareDatetime, ValidationError
from pydantic.fields import FieldInfo
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from promptly.cli.actors import ActorIdOption, cli_actor, refuse_foreign_party
from promptly.cli.common import run_with_client, settings
from promptly.cli.keys import IdempotencyKeyOption, cli_update_id, command_key
from promptly.config import Settings
from promptly.domain.common import Actor, ActorKind, Model
from promptly.domain.readable_time import readable, readable_text
from promptly.services.case_kinds import NEEDS_ATTENTION_QUERY, CaseKind, CaseUpdate
from promptly.services.case_starts import create_case
from promptly.services.case_views import one_connection, read_case_view
from promptly.services.errors import ServiceError, validation_problems
from promptly.services.setup import refused_for_missing_attributes

# A kind's own lines of a case's printout, times in the office's timezone (the second
# argument); its timeline follows them (`show_case`).
ShowView = Callable[[Any, str], None]

# The CLI's words for input fields it offers (the API documents them in its models).
FIELD_HELP = {
    "reason": "why, on the record",
    "new_start": "with its UTC offset, e.g. 2026-12-01T10:00:00+01:00",
    "note": "on the record",
    "for_customer_answer": "the customer owes us an answer (status updates pause); "
    "otherwise they go on",
    "root_cause": "why it happened, from PROMPTLY_COMPLAINT_ROOT_CAUSES",
    "severity": "the complaint's severity",
}


def refuse(problems: list[tuple[str, str]]) -> NoReturn:
    """Bad input: each `field: reason` on stderr, exit 2 (nothing was sent)."""
    for field, reason in problems:
        typer.secho(f"{field}: {reason}", fg="red", err=True)
    raise typer.Exit(2)


def readable_attribute(attributes: dict[str, Any], name: str, zone: str) -> str:
    """A Datetime search attribute in the office's words, or "-" when unset."""
    value = attributes.get(name)
    return readable(value, zone) if isinstance(value, datetime) else "-"


def show_case(show: ShowView, view: Any) -> None:
    """A case as every command prints it: its kind's lines, then its timeline."""
    zone = settings().office_timezone
    show(view, zone)
    print_timeline(view, zone)


def print_timeline(view: Any, zone: str) -> None:
    """One line per entry; the actor as the history export names it, with the API key it came
    through ("client:C-17 via crm")."""
    for entry in view.timeline:
        typer.echo(
            f"  {readable(entry.at, zone)}  {entry.kind.value:<14} "
            f"{entry.actor.signature():<19} {readable_text(entry.detail, zone)}"
        )


# How many cases a list command prints; the API's list routes take at most as many.
ListLimit = Annotated[int, typer.Option(min=1, max=1000, help="at most this many")]

# A list's line for one case: (workflow id, its search attributes by name, settings) → text.
ListRow = Callable[[str, dict[str, Any], Settings], str]

# `list --attention`: only the running cases with a flag for staff (search attribute
# NeedsAttention, kept equal to the case's `needs_attention`).
AttentionOption = Annotated[
    bool,
    typer.Option(
        "--attention", help="only running cases that need staff attention (NeedsAttention)"
    ),
]


def print_listing(
    kind: CaseKind,
    limit: int,
    row: ListRow,
    header: str,
    *,
    attention: bool = False,
    **equal: str | bool | None,
) -> None:
    """One line per case of `kind` whose search attributes equal the given values (None: any),
    newest first, under `header` (the column names, in the rows' format so they line up); with
    `attention`, only running cases with flags. A flagged case's line ends with its flags. The
    workflow type is the class's name (`@workflow.defn` names none)."""
    query = f"WorkflowType = '{kind.workflow.__name__}'" + "".join(
        f" AND {attribute} = {json.dumps(value)}"
        for attribute, value in equal.items()
        if value is not None
    )
    if attention:
        query += f" AND {NEEDS_ATTENTION_QUERY}"

    def flagged_row(workflow_id: str, attributes: dict[str, Any], config: Settings) -> str:
        flags = attributes.get("NeedsAttention")
        shown = row(workflow_id, attributes, config)
        return f"{shown}  needs attention: {', '.join(flags)}" if flags else shown

    async def action(client: Client, config: Settings) -> list[str]:
        try:
            return [
                flagged_row(
                    execution.id,
                    {p.key.name: p.value for p in execution.typed_search_attributes},
                    config,
                )
                async for execution in client.list_workflows(query, limit=limit)
            ]
        except RPCError as err:
            missing = None
            if err.status is RPCStatusCode.INVALID_ARGUMENT:
                missing = await refused_for_missing_attributes(client)
            if missing is None:
                raise
            # One line, not a traceback: the namespace lacks what the query names.
            typer.secho(missing, fg="red", err=True)
            raise typer.Exit(1) from err

    lines = run_with_client(action)
    # No cases, no header: the empty output says there are none, as it always did.
    for line in [header, *lines] if lines else []:
        typer.echo(line)


def add_list_command(
    app: typer.Typer,
    kind: CaseKind,
    row: ListRow,
    *,
    header: str,
    status_example: str,
    list_help: str,
) -> None:
    """`list [--status S] [--attention] [--limit N]`: the kind's cases from Temporal
    visibility, one `row` each under `header`, filtered by its `listed["status"]` (a kind with
    more filters writes its own)."""

    def list_cases(status: StrEnum | None, attention: bool, limit: int) -> None:
        print_listing(
            kind, limit, row, header, attention=attention, **{kind.listed["status"].name: status}
        )

    status_option = typer.Option(help=f"e.g. {status_example}")
    list_cases.__signature__ = _signature(  # type: ignore[attr-defined]
        _argument("status", kind.statuses | None, status_option, None),
        inspect.Parameter(
            "attention", inspect.Parameter.KEYWORD_ONLY, annotation=AttentionOption, default=False
        ),
        inspect.Parameter(
            "limit", inspect.Parameter.KEYWORD_ONLY, annotation=ListLimit, default=50
        ),
    )
    app.command("list", help=list_help)(list_cases)


def run_case_update(
    kind: CaseKind,
    case_id: str,
    update: CaseUpdate,
    argument: Model,
    idempotency_key: str | None,
    show: ShowView,
) -> None:
    """Run one update of the case's workflow, applied once per key, and show the case after.
    A client or provider the argument's actor names must be the case's own (exit 2)."""
    key = command_key(idempotency_key)

    async def action(client: Client, config: Settings) -> Any:
        handle = kind.handle(client, case_id)
        actor = getattr(argument, "actor", None)
        if isinstance(actor, Actor):
            await refuse_foreign_party(client, config, kind, handle.id, actor)
        update_id = cli_update_id(key, handle.id, update.update)
        return await handle.execute_update(update.update, argument, id=update_id)

    show_case(show, run_with_client(action))


def add_case_commands(
    app: typer.Typer, kind: CaseKind, show: ShowView, *, start: str, start_help: str
) -> None:
    """`START FILE`, `status ID` and one command per update of `kind` not written by hand."""
    app.command(start, help=start_help)(_start_command(kind))
    app.command("status", help=f"Show the {kind.noun}'s status, deadlines and timeline.")(
        _status_command(kind, show)
    )
    for update in kind.updates.values():
        if not update.cli.by_hand:
            app.command(update.command, help=update.summary)(_update_command(kind, update, show))


def _start_command(kind: CaseKind) -> Callable[..., None]:
    def start(file: Path, actor_kind: ActorKind | None, actor_id: str | None) -> None:
        opened_by = cli_actor(actor_kind, actor_id)  # who opened it: the case's first entry
        try:
            request = kind.request_model.model_validate_json(file.read_text())
        except ValidationError as err:
            refuse(validation_problems(err.errors()))

        async def action(client: Client, config: Settings) -> bool:
            return await create_case(client, config, kind, request, opened_by)

        workflow_id = kind.workflow_id(getattr(request, kind.id_field))
        try:
            created = run_with_client(action)
        except ServiceError as err:  # bad input (2), or the id taken by other details (1)
            typer.secho(err.reason, fg="red", err=True)
            raise typer.Exit(2 if err.status == 422 else 1) from err
        # The same file again is the case that exists, as the API's 200 says.
        typer.echo(
            f"{kind.started}: {workflow_id}"
            if created
            else f"already {kind.started}: {workflow_id} (same details)"
        )

    name = kind.request_model.__name__
    start.__signature__ = _signature(  # type: ignore[attr-defined]
        _argument("file", Path, typer.Argument(help=f"{name} as JSON")),
        _argument(
            "actor_kind",
            ActorKind | None,
            typer.Option(help="who opens it, with --actor-id; default: you, as staff"),
            None,
        ),
        inspect.Parameter(
            "actor_id", inspect.Parameter.KEYWORD_ONLY, annotation=ActorIdOption, default=None
        ),
    )
    return start


def _status_command(kind: CaseKind, show: ShowView) -> Callable[..., None]:
    def status(**params: str) -> None:
        async def action(client: Client, config: Settings) -> Any:
            # From PostgreSQL as the API's GET (the query waits behind a busy worker); the
            # query when the case stored no view yet (promptly/services/case_views.py).
            async with one_connection(config.database_url) as pool:
                read = await read_case_view(
                    client,
                    pool,
                    kind.viewed,
                    kind.workflow_id(params[kind.id_field]),
                    config.status_reads,
                )
            return read.view

        show_case(show, run_with_client(action))

    status.__signature__ = _signature(_argument(kind.id_field, str, typer.Argument()))  # type: ignore[attr-defined]
    return status


def _update_command(kind: CaseKind, update: CaseUpdate, show: ShowView) -> Callable[..., None]:
    spelling = update.cli
    fields = update.input.model_fields
    arguments = update.arguments()
    options = list(dict.fromkeys([*spelling.options, *spelling.flags]))
    given = [*arguments, *options]
    parameters = [_argument(kind.id_field, str, typer.Argument())]
    for name in arguments:
        parameters.append(_field_parameter(name, fields[name], spelling.defaults, positional=True))
    for name in options:
        parameters.append(
            _field_parameter(name, fields[name], spelling.defaults, spelling.flags.get(name))
        )
    if spelling.choose_actor:
        option = typer.Option(
            help=f"act for someone else, with --actor-id (default {spelling.actor.value} then); "
            "default: you, as staff"
        )
        parameters.append(_argument("actor_kind", ActorKind | None, option, None))
    parameters.append(
        inspect.Parameter(
            "actor_id", inspect.Parameter.KEYWORD_ONLY, annotation=ActorIdOption, default=None
        )
    )
    parameters.append(
        inspect.Parameter(
            "idempotency_key",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=IdempotencyKeyOption,
            default=None,
        )
    )

    def command(**params: Any) -> None:
        values = {name: params[name] for name in given}
        naive = [name for name, value in values.items() if _is_naive(value)]
        if naive:
            refuse([(name, "give the UTC offset, e.g. +01:00") for name in naive])
        values["actor"] = cli_actor(params.get("actor_kind"), params["actor_id"], spelling.actor)
        try:
            argument = update.input.model_validate(values)
        except ValidationError as err:
            refuse(validation_problems(err.errors()))
        problems = update.input_problems(argument, datetime.now(UTC))
        if problems:
            refuse(problems)
        run_case_update(
            kind, params[kind.id_field], update, argument, params["idempotency_key"], show
        )

    command.__signature__ = _signature(*parameters)  # type: ignore[attr-defined]
    command.__name__ = update.command.replace("-", "_")
    return command


def _is_naive(value: object) -> bool:
    return isinstance(value, datetime) and value.tzinfo is None


def _field_parameter(
    name: str,
    info: FieldInfo,
    defaults: Any,
    flag: str | None = None,
    *,
    positional: bool = False,
) -> inspect.Parameter:
    """A typer argument or option for one input field, typed and bounded as the model says."""
    annotation = _cli_type(info.annotation)
    bounds: dict[str, Any] = {}
    for rule in info.metadata:
        if isinstance(rule, annotated_types.Ge):
            bounds["min"] = rule.ge
        elif isinstance(rule, annotated_types.Le):
            bounds["max"] = rule.le
    helped = FIELD_HELP.get(name)
    if positional:
        return _argument(name, annotation, typer.Argument(help=helped, **bounds))
    if name in defaults:
        default = defaults[name]
    else:
        default = inspect.Parameter.empty if info.is_required() else info.default
    declarations = [flag] if flag else []
    option = typer.Option(*declarations, help=helped, **bounds)
    return _argument(name, annotation, option, default)


def _cli_type(annotation: Any) -> Any:
    """The field's type as typer parses it: `X | None` stays optional, aware times are
    datetimes (their offset is checked when the command runs)."""
    if get_origin(annotation) is Annotated:
        return _cli_type(get_args(annotation)[0])
    if get_origin(annotation) in (Union, UnionType):
        members = [member for member in get_args(annotation) if member is not type(None)]
        if len(members) == 1:
            return _cli_type(members[0]) | None
    if annotation is AwareDatetime:
        return datetime
    if isinstance(annotation, type) and issubclass(annotation, (Enum, str, int, bool, datetime)):
        return annotation
    raise TypeError(f"the CLI cannot spell a field of type {annotation!r}: write it by hand")


def _argument(
    name: str, annotation: Any, info: Any, default: Any = inspect.Parameter.empty
) -> inspect.Parameter:
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[annotation, info],
        default=default,
    )


def _signature(*parameters: inspect.Parameter) -> inspect.Signature:
    return inspect.Signature(list(parameters), return_annotation=None)
