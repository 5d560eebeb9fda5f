"""`POST /{plural}/{id}/{action}`: one route per update of the case-kind registry
(promptly/services/case_kinds.py), each with its own typed body in the OpenAPI document.

Every route does the same: check the body (422 naming the field, a time in the past and what
the update's own check finds included), fill the actor from the API key, run the update with
the request's idempotency key, answer the case's status. A refusal by the case's rules is 409
(promptly/services/updates.py).

Optimistic concurrency: the answer's `ETag` is the case's `version` (as its GET's), and an
update with `If-Match: <ETag>` carries it as the command's `expected_version`, which the case
checks in the update's validator, where it judges the command on its current state: a case
that changed since refuses it, 412, unchanged. `If-Match: *` (or none) checks nothing.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Request, Response
from fastapi.openapi.models import Example
from pydantic import BaseModel, Field, StringConstraints, ValidationError, create_model
from pydantic.json_schema import SkipJsonSchema

from promptly.api.auth import ACT, Caller, require
from promptly.api.case_reads import ETAG_DOC, ETAG_HEADER, set_etag
from promptly.api.idempotency import IDEMPOTENCY_KEY, update_id_for
from promptly.config import Settings
from promptly.domain.common import Actor, ActorKind, Model
from promptly.domain.examples import AS_CLIENT, AS_PROVIDER, NEW_START
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


IF_MATCH_HEADER = "If-Match"
ETAG_EXAMPLE = '"4-1-3f9c0a1b2c3d"'
IF_MATCH = Header(
    default=None,
    alias=IF_MATCH_HEADER,
    examples=[ETAG_EXAMPLE],
    description="The case's `ETag` (from its GET or an update's answer): the update is "
    "refused with 412 `precondition_failed`, nothing changed, if the case changed since. "
    "One strong tag, or `*` (no check).",
)


def expected_version(if_match: str | None) -> str | None:
    """The version an `If-Match` header names (None: no check); bad headers are 422."""
    if if_match is None or if_match.strip() == "*":
        return None
    tag = if_match.strip()
    problem = None
    if tag.startswith("W/"):
        problem = "a weak entity tag never matches an update: send the ETag as it came"
    elif "," in tag:
        problem = "one entity tag only (the case's ETag), or *"
    else:
        tag = tag.removeprefix('"').removesuffix('"')
        if not tag or '"' in tag:
            problem = 'the case\'s ETag, quoted as it came ("..."), or *'
    if problem is not None:
        raise invalid_input([(IF_MATCH_HEADER, problem)])
    return tag


# Named examples of a body where how it is sent matters (Swagger UI offers them in a list);
# the others show their model's `examples` (promptly/domain/examples.py).
NAMED_EXAMPLES: dict[str, dict[str, Example]] = {
    "reschedule": {
        "by_client": Example(
            summary="The client moves the visit",
            description="Sent without `If-Match`: applied whatever changed meanwhile.",
            value={"new_start": NEW_START, "actor": AS_CLIENT},
        ),
        "with_if_match": Example(
            summary="Only if the case is as read (If-Match)",
            description=f"The same body, sent with the header `If-Match: {ETAG_EXAMPLE}` (the "
            "`ETag` of the case's GET): 412 `precondition_failed`, nothing changed, if the "
            "case changed since.",
            value={"new_start": NEW_START, "actor": AS_CLIENT},
        ),
        "by_key": Example(
            summary="As the API key (no actor)",
            description="The actor is the key's identity, e.g. `system:crm` for a back-office key.",
            value={"new_start": NEW_START},
        ),
    },
    "report_delay": {
        "client_late": Example(
            summary="The client runs late",
            description="The no-show moment moves by the minutes (up to 15); no fee rule changes.",
            value={"minutes": 10, "reason": "stuck in traffic", "actor": AS_CLIENT},
        ),
        "provider_late": Example(
            summary="The provider runs late",
            description="The client is told at once and may cancel or reschedule free of charge.",
            value={"minutes": 20, "reason": "previous visit ran over", "actor": AS_PROVIDER},
        ),
    },
}


def body_name(update: CaseUpdate) -> str:
    """The schema name of the body `body_model` makes: `{Action}Body` unless the update names
    its own (`CaseUpdate.body`)."""
    return update.body or "".join(part.capitalize() for part in update.action.split("_")) + "Body"


def check_body_names(kinds: Iterable[CaseKind]) -> None:
    """Refuse a registry where two updates' bodies have the same schema name (two kinds with an
    update of the same name): OpenAPI would rename one of them behind the integrators' backs
    (`promptly__api__case_updates__AddNoteBody__2`)."""
    named: dict[str, tuple[str, str]] = {}
    for kind in kinds:
        for update in kind.updates.values():
            name = body_model(update).__name__
            if name in named:
                older, action = named[name]
                raise ValueError(
                    f"{older}'s update {action} and {kind.noun}'s update "
                    f"{update.action} both have the HTTP body schema {name}: schema names are "
                    "public, so the one the API already publishes keeps it and the new "
                    "update's line in promptly/services/case_kinds.py names its own, "
                    f'CaseUpdate(..., body="{kind.noun.capitalize()}{name}") or '
                    f'CaseUpdate(..., body="{older.capitalize()}{name}") '
                    "(docs/extending.md, a new update)"
                )
            named[name] = (kind.noun, update.action)


def body_model(update: CaseUpdate) -> type[BaseModel]:
    """The HTTP body: the update's argument, `actor` optional (the API key fills it). Who took
    a client's answer on the phone (`taken_by`) is never a body's to say: completing the
    desk's call task records it (told_answers.py), as the key's actor. Nor is the version the
    command was decided on (`expected_version`): the `If-Match` header says it."""
    fixed: dict[str, Any] = {
        name: (NoBodyValue, Field(default=None, exclude=True))
        for name in ("taken_by", "expected_version")
        if name in update.input.model_fields
    }
    if "actor" not in update.input.model_fields and not fixed:
        return update.input
    if "actor" not in update.input.model_fields:
        plain: type[BaseModel] = create_model(body_name(update), __base__=update.input, **fixed)
        return plain
    model: type[BaseModel] = create_model(
        body_name(update),
        __base__=update.input,
        actor=(
            Actor | None,
            Field(default=None, description="Who acts; default: the API key's identity"),
        ),
        **fixed,
    )
    return model


def update_argument(
    update: CaseUpdate, body: BaseModel, caller: Caller, expected: str | None = None
) -> Model:
    """The update's input from the body, the actor from the credentials, the expected version
    from `If-Match`. An update that cannot check a version refuses an `If-Match` (422) rather
    than run unchecked: a client must never think it is protected when it is not."""
    values = body.model_dump()
    if "actor" in update.input.model_fields:
        named = getattr(body, "actor", None)
        values["actor"] = caller.actor_for(named).model_dump()
    if expected is not None:
        if "expected_version" not in update.input.model_fields:
            raise invalid_input(
                [
                    (
                        IF_MATCH_HEADER,
                        f"{update.action} does not check the case's version: send no If-Match",
                    )
                ]
            )
        values["expected_version"] = expected
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
            f"With `If-Match` (the {kind.noun}'s `ETag`), a {kind.noun} that changed since "
            f"refuses the update: 412, nothing changed. "
            f"With an `Idempotency-Key`, a repeat is applied once and answers the first answer.",
            responses={**ACTION_RESPONSES, 200: {"headers": {ETAG_HEADER: ETAG_DOC}}},
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


def _body_parameter(body_type: type[BaseModel], action: str) -> inspect.Parameter:
    """The endpoint's `body`: required when the update has a field without a default (no body
    is 422, as the OpenAPI document says), else optional (no body is `{}`)."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    body = Body(openapi_examples=NAMED_EXAMPLES.get(action))
    if any(field.is_required() for field in body_type.model_fields.values()):
        return inspect.Parameter("body", keyword, annotation=Annotated[body_type, body])
    return inspect.Parameter(
        "body", keyword, annotation=Annotated[body_type | None, body], default=None
    )


def _update_endpoint(kind: CaseKind, update: CaseUpdate) -> Callable[..., Awaitable[Any]]:
    body_type = body_model(update)

    async def endpoint(**params: Any) -> Any:
        request: Request = params["request"]
        body: BaseModel | None = params["body"]
        expected = expected_version(params["if_match"])
        try:
            if body is None:  # no body at all (an update whose fields all have defaults)
                body = body_type.model_validate({})
            argument = update_argument(update, body, params["caller"], expected)
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
        view = await run_update(
            kind.handle(client, params[kind.id_field]),
            kind.noun,
            update.update,
            argument,
            settings.api_update_timeout,
            update_id_for(request),
        )
        set_etag(params["response"], view)
        return view

    keyword = inspect.Parameter.KEYWORD_ONLY
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("request", keyword, annotation=Request),
            inspect.Parameter("response", keyword, annotation=Response),
            inspect.Parameter(
                kind.id_field, keyword, annotation=Annotated[str, case_id_path(kind)]
            ),
            _body_parameter(body_type, update.action),
            inspect.Parameter("caller", keyword, annotation=Caller, default=require(ACT)),
            inspect.Parameter(
                "idempotency_key", keyword, annotation=str | None, default=IDEMPOTENCY_KEY
            ),
            inspect.Parameter("if_match", keyword, annotation=str | None, default=IF_MATCH),
        ]
    )
    endpoint.__name__ = f"{update.action}_{kind.noun}"
    return endpoint
