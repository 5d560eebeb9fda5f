"""What every case kind (appointments, complaints) shares over HTTP.

A case kind is one `CaseKindApi` value: its workflow, its models and its `actions`, a dict
from URL action name to the workflow update it drives. `add_action_routes` turns that dict
into `POST /{plural}/{id}/{action}` routes, each with its own typed body in the OpenAPI
document, so adding an update to the API is one line in the dict. Booking, status and
listing routes are written per kind (their inputs and filters differ) on top of the
helpers here: `create_case` (idempotent start), `case_status`, `original_input` and the
visibility helpers.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Path, Request, Response
from pydantic import BaseModel, Field, StringConstraints, ValidationError, create_model
from temporalio.api.history.v1 import WorkflowExecutionStartedEventAttributes
from temporalio.client import Client, WorkflowExecution, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from promptly.api.auth import ACT, Caller, require
from promptly.api.idempotency import IDEMPOTENCY_KEY, update_id_for
from promptly.config import ApiRole, Settings
from promptly.domain import keys
from promptly.domain.common import Actor, Model
from promptly.domain.future_times import past_time_problems
from promptly.domain.keys import Keyring
from promptly.services.cases import CaseExists
from promptly.services.errors import (
    ACTION_RESPONSES,
    ServiceError,
    invalid_input,
    temporal_errors,
    validation_problems,
)
from promptly.services.updates import QUERY_TIMEOUT, run_update

M = TypeVar("M", bound=BaseModel)

BUSINESS_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
BusinessIdQuery = Annotated[str, StringConstraints(pattern=BUSINESS_ID_PATTERN)]
LIST_TIMEOUT = timedelta(seconds=10)


@dataclass(frozen=True)
class Action:
    """One `POST /{plural}/{id}/{name}` route: the update it drives and who may call it."""

    update: Any  # a typed `@workflow.update` method reference, e.g. AppointmentWorkflow.confirm
    input: type[Model]
    summary: str
    roles: frozenset[ApiRole] = ACT

    def body_model(self, name: str) -> type[BaseModel]:
        """The HTTP body: the update's argument, `actor` optional (the API key fills it)."""
        if "actor" not in self.input.model_fields:
            return self.input
        title = "".join(part.capitalize() for part in name.split("_"))
        model: type[BaseModel] = create_model(
            f"{title}Body",
            __base__=self.input,
            actor=(
                Actor | None,
                Field(default=None, description="Who acts; default: the API key's identity"),
            ),
        )
        return model

    def argument(self, body: BaseModel, caller: Caller) -> Model:
        values = body.model_dump()
        if "actor" in self.input.model_fields:
            named = getattr(body, "actor", None)
            values["actor"] = caller.actor_for(named).model_dump()
        return self.input.model_validate(values)


@dataclass(frozen=True)
class CaseKindApi:
    noun: str  # "appointment"
    plural: str  # "appointments": the URL prefix
    id_field: str  # "appointment_id": the business id, in the request and in URLs
    run: Any  # the workflow's run method reference, for typed handles
    status_query: Any  # its `status` query method reference
    workflow_id: Callable[[str], str]
    request_model: type[Model]
    view_model: type[Model]
    actions: Mapping[str, Action]

    def handle(self, client: Client, case_id: str) -> WorkflowHandle[Any, Any]:
        return client.get_workflow_handle_for(self.run, self.workflow_id(case_id))

    def not_found(self, case_id: str) -> str:
        return f"no {self.noun} {case_id}"


def case_id_path(kind: CaseKindApi) -> Any:
    return Path(
        pattern=BUSINESS_ID_PATTERN,
        description=f"The {kind.noun}'s business id ({kind.id_field} at booking)",
    )


# --- idempotent start ------------------------------------------------------------------------


async def create_case(
    client: Client,
    kind: CaseKindApi,
    body: Model,
    start: Callable[[], Awaitable[object]],
    rejected: tuple[type[Exception], ...] = (),
) -> bool:
    """Start the case's workflow; True if it is new, False if the same request already ran.

    A different request under the same id is 409; `rejected` errors (the service's own
    checks, messages shaped `field: reason`) are 422 naming the field.
    """
    case_id = getattr(body, kind.id_field)
    try:
        with temporal_errors(kind.not_found(case_id)):
            await start()
    except rejected as err:
        field, _, reason = str(err).partition(": ")
        raise invalid_input([(field, reason)] if reason else [("body", str(err))]) from err
    except CaseExists as err:
        with temporal_errors(kind.not_found(case_id)):
            existing = await original_input(client, kind.workflow_id(case_id), type(body))
        if existing != body:
            differing = [
                name
                for name in type(body).model_fields
                if getattr(existing, name) != getattr(body, name)
            ]
            raise ServiceError(
                409,
                f"{kind.noun} {case_id} already exists with different details "
                f"({', '.join(differing)}); nothing changed",
                fields=[(name, "differs from the existing case") for name in differing],
            ) from err
        return False
    return True


@dataclass(frozen=True)
class CaseStart:
    """What a start route answers, whichever the kind: new, or the same request again."""

    created: bool
    status_url: str
    case: Any  # the existing case's status when not created


async def start_case(
    request: Request,
    response: Response,
    kind: CaseKindApi,
    body: Model,
    start: Callable[[], Awaitable[object]],
    rejected: tuple[type[Exception], ...] = (),
) -> CaseStart:
    """`create_case`, then 201 with Location for a new case, 200 with its status if the same
    request had started it already."""
    client: Client = request.app.state.client
    created = await create_case(client, kind, body, start, rejected)
    case_id = getattr(body, kind.id_field)
    url = str(request.app.url_path_for(f"get_{kind.noun}", **{kind.id_field: case_id}))
    if created:
        response.headers["Location"] = url
        return CaseStart(created=True, status_url=url, case=None)
    response.status_code = 200
    return CaseStart(created=False, status_url=url, case=await case_status(client, kind, case_id))


async def _started_attributes(
    handle: WorkflowHandle[Any, Any],
) -> WorkflowExecutionStartedEventAttributes:
    async for event in handle.fetch_history_events(page_size=1, rpc_timeout=QUERY_TIMEOUT):
        if event.HasField("workflow_execution_started_event_attributes"):
            return event.workflow_execution_started_event_attributes
        break
    raise ServiceError(502, f"workflow {handle.id} has no start event")


async def original_input(client: Client, workflow_id: str, model: type[M]) -> M:
    """The request a case was started with: the first run's input, across continue-as-new."""
    attributes = await _started_attributes(client.get_workflow_handle(workflow_id))
    first_run = attributes.first_execution_run_id
    if attributes.continued_execution_run_id and first_run:
        attributes = await _started_attributes(
            client.get_workflow_handle(workflow_id, run_id=first_run)
        )
    [value] = await client.data_converter.decode(attributes.input.payloads, [model])
    if not isinstance(value, model):
        raise ServiceError(502, f"workflow {workflow_id} was not started with a {model.__name__}")
    return value


# --- status and updates ------------------------------------------------------------------------


async def case_status(client: Client, kind: CaseKindApi, case_id: str) -> Any:
    with temporal_errors(kind.not_found(case_id)):
        return await kind.handle(client, case_id).query(
            kind.status_query, rpc_timeout=QUERY_TIMEOUT
        )


def add_action_routes(router: APIRouter, kind: CaseKindApi) -> None:
    """`POST /{plural}/{id}/{name}` for every entry of `kind.actions`."""
    for name, action in kind.actions.items():
        router.add_api_route(
            f"/{kind.plural}/{{{kind.id_field}}}/{name}",
            _action_endpoint(kind, name, action),
            methods=["POST"],
            response_model=kind.view_model,
            name=f"{name}_{kind.noun}",
            summary=action.summary,
            description=f"Runs the `{name}` update of the {kind.noun}'s workflow and answers "
            f"its status. The body's `actor` defaults to the API key's identity. A refusal "
            f"by the {kind.noun}'s rules is 409 with the reason; nothing changes then. "
            f"With an `Idempotency-Key`, a repeat is applied once and answers the first answer.",
            responses=ACTION_RESPONSES,
            tags=[kind.plural],
        )
    allowed = ", ".join(kind.actions)

    async def unknown_action(action: str) -> None:
        raise ServiceError(
            404,
            f"no action {action!r} for a {kind.noun}; allowed: {allowed}",
            fields=[("action", f"one of: {allowed}")],
        )

    # After the real actions, so it only answers names that are not one of them.
    router.add_api_route(
        f"/{kind.plural}/{{{kind.id_field}}}/{{action}}",
        unknown_action,
        methods=["POST"],
        include_in_schema=False,
        name=f"unknown_{kind.noun}_action",
    )


def _action_endpoint(kind: CaseKindApi, name: str, action: Action) -> Callable[..., Awaitable[Any]]:
    body_model = action.body_model(name)

    async def endpoint(**params: Any) -> Any:
        request: Request = params["request"]
        caller: Caller = params["caller"]
        body: BaseModel | None = params["body"]
        if body is None:  # no body at all: fine when every field has a default
            try:
                body = body_model.model_validate({})
            except ValidationError as err:
                raise invalid_input(validation_problems(err.errors())) from err
        try:
            argument = action.argument(body, caller)
        except ValidationError as err:
            raise invalid_input(validation_problems(err.errors())) from err
        # A time in the past is bad input (422 naming the field), as at booking.
        past = past_time_problems(argument, datetime.now(UTC))
        if past:
            raise invalid_input(past)
        settings: Settings = request.app.state.settings
        handle = kind.handle(request.app.state.client, params[kind.id_field])
        return await run_update(
            handle,
            kind.noun,
            action.update,
            argument,
            settings.api_update_timeout,
            update_id_for(request),
        )

    keyword = inspect.Parameter.KEYWORD_ONLY
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("request", keyword, annotation=Request),
            inspect.Parameter(
                kind.id_field, keyword, annotation=Annotated[str, case_id_path(kind)]
            ),
            inspect.Parameter(
                "body",
                keyword,
                annotation=Annotated[body_model | None, Body()],
                default=None,
            ),
            inspect.Parameter("caller", keyword, annotation=Caller, default=require(action.roles)),
            inspect.Parameter(
                "idempotency_key", keyword, annotation=str | None, default=IDEMPOTENCY_KEY
            ),
        ]
    )
    endpoint.__name__ = f"{name}_{kind.noun}"
    return endpoint


# --- visibility lists ----------------------------------------------------------------------------


def where(*clauses: str | None) -> str:
    """The visibility query of the clauses given (None: that filter is not set)."""
    return " AND ".join(clause for clause in clauses if clause is not None)


def equals(attribute: str, value: str | None) -> str | None:
    return None if value is None else f"{attribute} = {literal(value)}"


def at_or_after(attribute: str, moment: datetime | None) -> str | None:
    return None if moment is None else f"{attribute} >= {literal(moment)}"


def before(attribute: str, moment: datetime | None) -> str | None:
    return None if moment is None else f"{attribute} < {literal(moment)}"


def literal(value: str | datetime) -> str:
    """A visibility-query literal; refuses characters that could change the query."""
    if isinstance(value, datetime):
        return f'"{value.astimezone(UTC).isoformat()}"'
    if any(char in value for char in "\"'\\\n\r"):
        raise ServiceError(422, "invalid filter", fields=[("filter", "quotes are not allowed")])
    return f'"{value}"'


def _token_mac(keyring: Keyring, key_id: str, query: str, raw: bytes, now: datetime) -> bytes:
    key = keyring.key(key_id, now)
    if key is None:
        return b""
    message = query.encode() + b"\0" + raw
    return hmac.new(key, message, "sha256").digest()[:12]


def encode_token(keyring: Keyring, query: str, raw: bytes | None) -> str | None:
    """Temporal's next-page token, signed and bound to its query: clients cannot forge one.

    Layout: key id (4 bytes) | MAC (12) | Temporal's token. The key is the page-token key
    (promptly/domain/keys.py), so no other token of ours passes for one."""
    if not raw:
        return None
    key_id, _ = keyring.mac(b"")
    mac = _token_mac(keyring, key_id, query, raw, datetime.now(UTC))
    return base64.urlsafe_b64encode(bytes.fromhex(key_id) + mac + raw).decode().rstrip("=")


def decode_token(keyring: Keyring, query: str, token: str | None) -> bytes | None:
    if not token:
        return None
    try:
        decoded = base64.b64decode(
            token.encode("ascii") + b"=" * (-len(token) % 4), altchars=b"-_", validate=True
        )
    except (binascii.Error, ValueError):
        decoded = b""
    key_id, mac, raw = decoded[:4].hex(), decoded[4:16], decoded[16:]
    expected = _token_mac(keyring, key_id, query, raw, datetime.now(UTC)) if raw else b""
    if not expected or not hmac.compare_digest(mac, expected):
        raise ServiceError(
            422,
            "invalid page_token",
            fields=[("page_token", "not a next_page_token of this same list")],
        )
    return raw


async def list_page(
    request: Request, query: str, page_size: int, page_token: str | None
) -> tuple[list[WorkflowExecution], str | None]:
    """One page of a visibility query, and the token of the next page (None at the end)."""
    settings: Settings = request.app.state.settings
    keyring = settings.keyring(keys.PAGE_TOKENS)
    raw_token = decode_token(keyring, query, page_token)  # a forged token goes no further
    client: Client = request.app.state.client
    iterator = client.list_workflows(
        query,
        page_size=page_size,
        next_page_token=raw_token,
        rpc_timeout=LIST_TIMEOUT,
    )
    try:
        with temporal_errors("no such list"):
            await iterator.fetch_next_page()
    except ServiceError as err:
        cause = err.__cause__
        if isinstance(cause, RPCError) and cause.status is RPCStatusCode.INVALID_ARGUMENT:
            raise ServiceError(
                422,
                "invalid list request",
                fields=[("page_token" if page_token else "filter", "Temporal refused it")],
                internal=cause.message,
            ) from cause
        raise
    return list(iterator.current_page or []), encode_token(keyring, query, iterator.next_page_token)
