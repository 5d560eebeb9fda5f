"""Starting a case idempotently by its business id, for the API and the CLI alike: a repeat
of the same request is the case that exists, a different request under the same id is
refused naming the fields that differ."""

from __future__ import annotations

from typing import Any, TypeVar

from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel
from temporalio.api.history.v1 import WorkflowExecutionStartedEventAttributes
from temporalio.client import Client, WorkflowHandle

from promptly.config import Settings
from promptly.domain.common import Actor, Model
from promptly.services.case_kinds import CaseKind
from promptly.services.cases import CaseExists
from promptly.services.errors import ErrorCode, ServiceError, invalid_input, temporal_errors
from promptly.services.updates import QUERY_TIMEOUT

M = TypeVar("M", bound=BaseModel)


async def create_case(
    client: Client,
    settings: Settings,
    kind: CaseKind,
    body: Model,
    opened_by: Actor,
    pool: AsyncConnectionPool | None = None,
) -> bool:
    """Start the case's workflow on behalf of `opened_by`; True if it is new, False if the same
    request already ran (whoever started it).

    A different request under the same id is 409; the kind's `rejected` errors (the
    service's own checks, messages shaped `field: reason`) are 422 naming the field.
    """
    case_id = getattr(body, kind.id_field)
    try:
        with temporal_errors(kind.not_found(case_id)):
            await kind.start(client, body, settings, opened_by=opened_by, pool=pool)
    except kind.rejected as err:
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
                code=ErrorCode.DIFFERENT_DETAILS,
                fields=[(name, "differs from the existing case") for name in differing],
            ) from err
        return False
    return True


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
