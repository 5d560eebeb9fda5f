"""Every HTTP error is one JSON shape, `ErrorBody`: a reason, a stable `code` a program can
switch on (`ErrorCode`, docs/http-api.md), and for bad input each field.

Temporal's errors map by type (STYLE.md §10): a workflow that does not exist → 404, an
update its validator refused → 409 with the validator's message and the code its refusal
carries (`RefusalCode`, in the details of a `TransitionRefused`); 422 naming the field when
the validator found bad input only the case can judge (`InvalidField`); 412 when the case
changed since the version the command was decided on (`PreconditionFailed`); 403 when who
acts may not (`ActorRefused`); Temporal unreachable or slow → 503/504.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from temporalio.client import (
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.service import RPCError, RPCStatusCode

from promptly.domain.errors import (
    ACTOR_REFUSED,
    CASE_OPENING,
    CASE_OPENING_ENDS,
    INVALID_FIELD,
    PRECONDITION_FAILED,
    TRANSITION_REFUSED,
    UNKNOWN_UPDATE,
)
from promptly.domain.text_patterns import MEANINGS


class FieldProblem(BaseModel):
    field: str
    reason: str


class ErrorCode(StrEnum):
    """What went wrong, for a program: a closed set, stable across releases (the `reason` is
    for people and may be reworded). A code names one HTTP status; a 409's code says which
    conflict it is (docs/http-api.md "Errors")."""

    UNAUTHENTICATED = "unauthenticated"  # 401: no API key, or an unknown one
    FORBIDDEN = "forbidden"  # 403: the key's role, or who it acts as, may not do this
    NOT_FOUND = "not_found"  # 404
    METHOD_NOT_ALLOWED = "method_not_allowed"  # 405
    CONFLICT = "conflict"  # 409: refused by the case's (or the task's) rules, for another reason
    # 409s a case's rules name (domain/errors.py `RefusalCode`: the refusal carries its code)
    ALREADY_ENDED = "conflict.already_ended"  # 409: the case has ended (cancelled, closed...)
    SAME_TIME = "conflict.same_time"  # 409: a reschedule to the time it already has
    CASE_CLOSED = "conflict.case_closed"  # 409: the case's workflow is over; nothing runs
    DIFFERENT_DETAILS = "conflict.different_details"  # 409: a start under a taken id, other details
    KEY_IN_PROGRESS = "conflict.key_in_progress"  # 409: the first request with the key still runs
    CASE_OPENING = "conflict.case_opening"  # 409: the case is still being opened (booked, filed)
    PRECONDITION_FAILED = "precondition_failed"  # 412: the case changed since If-Match's ETag
    TOO_LARGE = "too_large"  # 413
    INVALID = "invalid"  # 422: `errors` names each field
    KEY_REUSED = "idempotency_key_reused"  # 422: the key was used for another request
    RATE_LIMITED = "rate_limited"  # 429
    INTERNAL = "internal"  # 500: logged under the request id
    UPSTREAM = "upstream_error"  # 502: Temporal refused the request
    UNAVAILABLE = "unavailable"  # 503: Temporal or PostgreSQL unreachable, a failing workflow
    # 503: the namespace lacks search attributes the workflows set; `promptly setup` adds them
    SEARCH_ATTRIBUTES_MISSING = "unavailable.search_attributes_missing"
    TIMEOUT = "timeout"  # 504: no answer in time; the action may still be applied


_STATUS_CODES = {
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    412: ErrorCode.PRECONDITION_FAILED,
    413: ErrorCode.TOO_LARGE,
    422: ErrorCode.INVALID,
    429: ErrorCode.RATE_LIMITED,
    502: ErrorCode.UPSTREAM,
    503: ErrorCode.UNAVAILABLE,
    504: ErrorCode.TIMEOUT,
}


def code_for_status(status: int) -> ErrorCode:
    """The code of an error answer that says no more than its status."""
    if status in _STATUS_CODES:
        return _STATUS_CODES[status]
    return ErrorCode.INTERNAL if status >= 500 else ErrorCode.INVALID


class ErrorBody(BaseModel):
    """Why a request was refused: `reason` for a person, `code` for a program (one of a
    closed set: docs/http-api.md); `errors` names each bad field of the input. `request_id`
    finds the full reason in the server's log (never in the answer: it can hold internals)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "reason": "invalid input: client.email: value is not a valid email address",
                    "code": "invalid",
                    "errors": [
                        {"field": "client.email", "reason": "value is not a valid email address"}
                    ],
                    "request_id": "5b1e0c8f2a7d4e19",
                },
                {
                    "reason": "reschedule refused: the appointment is already Cancelled",
                    "code": "conflict.already_ended",
                    "errors": [],
                    "request_id": "9d04c2e6b1a84f73",
                },
                {
                    "reason": "the appointment changed since version 7-3f9c0a1b2c3d (now "
                    "8-3f9c0a1b2c3d); nothing changed: read it again and decide on what it is now",
                    "code": "precondition_failed",
                    "errors": [],
                    "request_id": "1c7a9e3d5f20b846",
                },
            ]
        }
    )

    reason: str
    code: ErrorCode
    errors: list[FieldProblem] = []
    request_id: str | None = None


class ServiceError(Exception):
    """An error answer: HTTP status, a reason a person can act on and the code for a program
    (by default the status's own)."""

    def __init__(
        self,
        status: int,
        reason: str,
        *,
        code: ErrorCode | None = None,
        fields: Sequence[tuple[str, str]] = (),
        headers: dict[str, str] | None = None,
        internal: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.code = code or code_for_status(status)
        self.fields = list(fields)
        self.headers = headers
        # What happened inside (Temporal's message, a protobuf error): logged with the
        # request id, never sent to the caller.
        self.internal = internal

    def body(self) -> ErrorBody:
        return ErrorBody(
            reason=self.reason,
            code=self.code,
            errors=[FieldProblem(field=field, reason=reason) for field, reason in self.fields],
        )


def _described(text: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": text}


def header(
    description: str, *, required: bool = False, schema: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An OpenAPI header object for a route's `responses=` (a string unless `schema` says
    otherwise)."""
    return {
        "description": description,
        "required": required,
        "schema": schema or {"type": "string"},
    }


# OpenAPI `responses=` for routes: the error answers every back-office route may give.
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        **_described("No API key, or an unknown one"),
        "headers": {
            "WWW-Authenticate": header("`X-API-Key`: the header the key goes in", required=True)
        },
    },
    403: _described("The key's role may not do this"),
    413: _described("Request body too large"),
    422: _described("Invalid input: `errors` names each field and why"),
    503: _described(
        "Temporal or PostgreSQL unreachable, or the case's workflow task failing in the worker"
    ),
}
CASE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    404: _described("No such case"),
    504: _described("The workflow did not answer in time"),
}
ACTION_RESPONSES: dict[int | str, dict[str, Any]] = {
    **CASE_RESPONSES,
    409: _described(
        "Refused by the case's rules (the reason says why, the `code` which conflict); "
        "nothing changed"
    ),
    412: _described(
        "`If-Match` named an older version: the case changed since (`precondition_failed`); "
        "nothing changed"
    ),
}


# pydantic's prefixes for errors our validators raise: noise to a reader.
_LIBRARY_PREFIXES = ("Value error, ", "Assertion failed, ")
# A validator message "email: required when ..." names a field below the validated model.
_LEAF = re.compile(r"^([a-z_][a-z0-9_]*): (.+)$", re.DOTALL)


def validation_problems(errors: Sequence[Any]) -> list[tuple[str, str]]:
    """(field, reason) for each pydantic/FastAPI error; body fields as dotted paths to the
    leaf (`client.email`), reasons without pydantic's prefixes."""
    problems: list[tuple[str, str]] = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header") and len(loc) > 1:
            where, rest = loc[0], loc[1:]
            if where == "body" and error.get("type") == "json_invalid":
                rest = []
            path = rest if rest else [where]
        else:
            path = loc or ["body"]
        reason = str(error.get("msg", "invalid"))
        for prefix in _LIBRARY_PREFIXES:
            reason = reason.removeprefix(prefix)
        context = error.get("ctx") or {}
        if error.get("type") == "string_pattern_mismatch" and context.get("pattern") in MEANINGS:
            reason = f"must be {MEANINGS[context['pattern']]}"  # not the regular expression
        detail = context.get("error")
        if error.get("type") == "json_invalid" and detail:
            reason = f"{reason}: {detail}"
        leaf = _LEAF.match(reason) if error.get("type") == "value_error" else None
        if leaf is not None:
            path = [*(part for part in path if part != "body"), leaf.group(1)]
            reason = leaf.group(2)
        problems.append((".".join(path), reason))
    return problems


def with_json_hint(
    problems: list[tuple[str, str]], content_type: str | None
) -> list[tuple[str, str]]:
    """A body refused as a whole when it was not sent as JSON: say how to send it."""
    if content_type and "json" in content_type.lower():
        return problems
    hint = (
        "send the body as JSON with the header Content-Type: application/json "
        f"(got {f'Content-Type: {content_type}' if content_type else 'no Content-Type'})"
    )
    return [(field, hint if field == "body" else reason) for field, reason in problems]


def invalid_input(problems: list[tuple[str, str]]) -> ServiceError:
    """422 for bad input; the reason repeats the first problems so logs show them too."""
    shown = "; ".join(f"{field}: {reason}" for field, reason in problems[:3])
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return ServiceError(422, f"invalid input: {shown}{more}", fields=problems)


def refusal_code(cause: ApplicationError) -> ErrorCode:
    """The code of a case's refusal (409): the one the rule gave it (`RefusalCode`, in the
    error's details), else plain `conflict`."""
    if cause.type == TRANSITION_REFUSED and cause.details:
        try:
            return ErrorCode(str(cause.details[0]))
        except ValueError:
            pass
    return ErrorCode.CONFLICT


def failure_message(err: WorkflowUpdateFailedError) -> str:
    """The message of the workflow's ApplicationError, without Temporal's wrapping."""
    cause = err.cause
    if isinstance(cause, FailureError) and cause.message:
        return cause.message
    return str(cause or err)


# Temporal's answer to an update the workflow could not take because its workflow task fails
# in the worker ("… due to unexpected workflow task failure.", then "… due to Workflow Task in
# failed state."): a bug or a setup problem (a search attribute the server lacks), not the case.
_UPDATE_ON_FAILING_TASK = "Unable to perform workflow execution update"
WORKFLOW_TASK_FAILING = (
    "the case could not take the action: its workflow fails in the worker (a code or setup "
    "problem, such as a search attribute Temporal lacks: `promptly setup` registers them); "
    "nothing changed. Check the worker log (under `promptly dev`: <data dir>/logs/promptly.log), "
    "then repeat the action"
)


def workflow_task_failing(err: RPCError) -> bool:
    """An update refused because the case's workflow task fails (not the case's rules)."""
    return err.status is RPCStatusCode.FAILED_PRECONDITION and err.message.startswith(
        _UPDATE_ON_FAILING_TASK
    )


def _case_opening(reason: str) -> ServiceError:
    """The case is still being opened: a second's work for the worker, then it answers."""
    return ServiceError(409, reason, code=ErrorCode.CASE_OPENING, headers={"Retry-After": "1"})


@contextmanager
def temporal_errors(not_found: str, *, keyed: bool = False) -> Iterator[None]:
    """Turn Temporal client errors into `ServiceError`s; `not_found` is the 404 reason;
    `keyed`: the update carries an id from an Idempotency-Key (a repeat with it is safe)."""
    try:
        yield
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type == INVALID_FIELD:
            field = str(cause.details[0]) if cause.details else "body"
            raise invalid_input([(field, cause.message)]) from err
        if isinstance(cause, ApplicationError) and cause.type == PRECONDITION_FAILED:
            raise ServiceError(412, cause.message) from err
        if isinstance(cause, ApplicationError) and cause.type == ACTOR_REFUSED:
            raise ServiceError(403, cause.message) from err
        if isinstance(cause, ApplicationError) and cause.type == CASE_OPENING:
            raise _case_opening(cause.message) from err
        if isinstance(cause, ApplicationError) and cause.type == UNKNOWN_UPDATE:
            # A code error (an update with no rule), not the case's refusal: the log says which.
            raise ServiceError(
                500, "the case has no rule for this action", internal=cause.message
            ) from err
        code = refusal_code(cause) if isinstance(cause, ApplicationError) else ErrorCode.CONFLICT
        raise ServiceError(409, failure_message(err), code=code) from err
    except WorkflowQueryFailedError as err:
        if err.message.endswith(CASE_OPENING_ENDS):
            raise _case_opening(err.message) from err
        reason = "the case could not answer its status query"
        raise ServiceError(409, reason, internal=err.message) from err
    except WorkflowUpdateRPCTimeoutOrCancelledError as err:
        repeat = (
            "repeating it with the same Idempotency-Key is safe: it is applied once and "
            "answers its outcome"
            if keyed
            else "check the status before repeating it"
        )
        raise ServiceError(
            504, f"the workflow did not answer in time; the action may still be applied, {repeat}"
        ) from err
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            raise ServiceError(404, not_found) from err
        if err.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            raise ServiceError(504, "Temporal did not answer in time") from err
        if err.status is RPCStatusCode.UNAVAILABLE:
            raise ServiceError(503, "Temporal is unreachable") from err
        if workflow_task_failing(err):
            raise ServiceError(503, WORKFLOW_TASK_FAILING, internal=err.message) from err
        if err.status is RPCStatusCode.FAILED_PRECONDITION:  # e.g. no worker polling
            raise ServiceError(503, "Temporal cannot answer now", internal=err.message) from err
        raise ServiceError(502, "Temporal refused the request", internal=err.message) from err
