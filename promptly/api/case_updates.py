"""`POST /{plural}/{id}/{action}`: one route per update of the case-kind registry
(promptly/services/case_kinds.py), each with its own typed body in the OpenAPI document.

Every route does the same: check the body (422 naming the field, a time in the past and what
the update's own check finds included), fill the actor from the API key, run the update with
the request's idempotency key, answer the case's status. A refusal by the case's rules is 409
(promptly/services/updates.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request
from pydantic import BaseModel, Field, StringConstraints, ValidationError, create_model
from pydantic.json_schema import SkipJsonSchema

from promptly.api.auth import ACT, Caller, require
from promptly.api.idempotency import IDEMPOTENCY_KEY, update_id_for
from promptly.config import Settings
from promptly.domain.common import Actor, ActorKind, Model
from promptly.domain.text_patterns import BUSINESS_ID
from promptly.services.case_kinds import CaseKind, CaseUpdate
from promptly.services.case_parties import parties, stranger
from promptly.services.errors import (
    ACTION_RESPONSES,
    ServiceError,
    invalid_input,
    temporal_errors,
    validation_problems,
)
from promptly.services.updates import run_update

BusinessIdQuery = Annotated[str, StringConstraints(pattern=BUSINESS_ID.regex)]
# A field the body may not set: absent from the schema, and only null accepted.
NoBodyValue = SkipJsonSchema[None]


def case_id_path(kind: CaseKind) -> Any:
    return Path(
        pattern=BUSINESS_ID.regex,
        description=f"The {kind.noun}'s business id ({kind.id_field} at booking)",
    )


def body_model(update: CaseUpdate) -> type[BaseModel]:
    """The HTTP body: the update's argument, `actor` optional (the API key fills it). Who took
    a client's answer on the phone (`taken_by`) is never a body's to say: completing the
    desk's call task records it (told_answers.py), as the key's actor."""
    if "actor" not in update.input.model_fields:
        return update.input
    title = "".join(part.capitalize() for part in update.action.split("_"))
    on_the_phone: dict[str, Any] = (
        {"taken_by": (NoBodyValue, Field(default=None, exclude=True))}
        if "taken_by" in update.input.model_fields
        else {}
    )
    model: type[BaseModel] = create_model(
        f"{title}Body",
        __base__=update.input,
        actor=(
            Actor | None,
            Field(default=None, description="Who acts; default: the API key's identity"),
        ),
        **on_the_phone,
    )
    return model


def update_argument(update: CaseUpdate, body: BaseModel, caller: Caller) -> Model:
    """The update's input from the body, the actor from the credentials."""
    values = body.model_dump()
    if "actor" in update.input.model_fields:
        named = getattr(body, "actor", None)
        values["actor"] = caller.actor_for(named).model_dump()
    return update.input.model_validate(values)


def add_update_routes(router: APIRouter, kind: CaseKind) -> None:
    """`POST /{plural}/{id}/{action}` for every update of `kind`, then a 404 for any other."""
    for update in kind.updates.values():
        router.add_api_route(
            f"/{kind.plural}/{{{kind.id_field}}}/{update.action}",
            _update_endpoint(kind, update),
            methods=["POST"],
            response_model=kind.view_model,
            name=f"{update.action}_{kind.noun}",
            summary=update.summary,
            description=f"Runs the `{update.action}` update of the {kind.noun}'s workflow and "
            f"answers its status. The body's `actor` defaults to the API key's identity. A "
            f"refusal by the {kind.noun}'s rules is 409 with the reason; nothing changes then. "
            f"With an `Idempotency-Key`, a repeat is applied once and answers the first answer.",
            responses=ACTION_RESPONSES,
            tags=[kind.plural],
        )
    allowed = ", ".join(kind.updates)

    async def unknown_action(action: str) -> None:
        raise ServiceError(
            404,
            f"no action {action!r} for {kind.plural}; allowed: {allowed}",
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


def _body_parameter(body_type: type[BaseModel]) -> inspect.Parameter:
    """The endpoint's `body`: required when the update has a field without a default (no body
    is 422, as the OpenAPI document says), else optional (no body is `{}`)."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    if any(field.is_required() for field in body_type.model_fields.values()):
        return inspect.Parameter("body", keyword, annotation=Annotated[body_type, Body()])
    return inspect.Parameter(
        "body", keyword, annotation=Annotated[body_type | None, Body()], default=None
    )


def _update_endpoint(kind: CaseKind, update: CaseUpdate) -> Callable[..., Awaitable[Any]]:
    body_type = body_model(update)

    async def endpoint(**params: Any) -> Any:
        request: Request = params["request"]
        body: BaseModel | None = params["body"]
        try:
            if body is None:  # no body at all (an update whose fields all have defaults)
                body = body_type.model_validate({})
            argument = update_argument(update, body, params["caller"])
        except ValidationError as err:
            raise invalid_input(validation_problems(err.errors())) from err
        # Bad input the model does not refuse (a time in the past, as at booking; a call's
        # reschedule without its time) is a 422 naming the field, before the case is asked.
        problems = update.input_problems(argument, datetime.now(UTC))
        if problems:
            raise invalid_input(problems)
        client = request.app.state.client
        named = getattr(body, "actor", None)
        if named is not None and named.kind in (ActorKind.CLIENT, ActorKind.PROVIDER):
            workflow_id = kind.workflow_id(params[kind.id_field])
            with temporal_errors(kind.not_found(params[kind.id_field])):
                of_case = await parties(client, request.app.state.pool, kind.viewed, workflow_id)
            if refused := stranger(named, kind.noun, of_case):
                raise invalid_input(refused)
        settings: Settings = request.app.state.settings
        return await run_update(
            kind.handle(client, params[kind.id_field]),
            kind.noun,
            update.update,
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
            _body_parameter(body_type),
            inspect.Parameter("caller", keyword, annotation=Caller, default=require(ACT)),
            inspect.Parameter(
                "idempotency_key", keyword, annotation=str | None, default=IDEMPOTENCY_KEY
            ),
        ]
    )
    endpoint.__name__ = f"{update.action}_{kind.noun}"
    return endpoint
