"""Starting a case's workflow under its business id: what booking an appointment, filing a
complaint and recording an inquiry share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.types import MethodAsyncSingleParam, ReturnType, SelfType

from promptly.config import Settings
from promptly.domain.common import OPENED_BY_MEMO, SYSTEM, Actor, Person
from promptly.domain.workflow_timeouts import WORKFLOW_TASK_TIMEOUT
from promptly.workflows.search_attributes import CLIENT_ID


class CaseRequest(Protocol):
    """A case's start request: its business id names the workflow."""

    @property
    def workflow_id(self) -> str: ...


RequestT = TypeVar("RequestT", bound=CaseRequest)


def case_details(noun: str, case_id: str, facts: Mapping[str, str | None]) -> str:
    """What the Temporal UI shows above a case's history: `Noun **id**`, then a line
    `- name: value` per fact (None: not shown)."""
    lines = "".join(f"\n- {name}: {value}" for name, value in facts.items() if value is not None)
    return f"{noun} **{case_id}**\n{lines}"


def reached(person: Person) -> str:
    """Who a case is with and how we reach them, for its details: `C-17 via email`."""
    return f"{person.id} via {person.preferred_channel.value}"


class CaseExists(Exception):
    """A workflow for this business id exists already; `workflow_id` points at it."""

    def __init__(self, what: str, workflow_id: str) -> None:
        super().__init__(f"{what}: workflow {workflow_id} exists")
        self.workflow_id = workflow_id


async def start_case(
    client: Client,
    run: MethodAsyncSingleParam[SelfType, RequestT, ReturnType],
    request: RequestT,
    settings: Settings,
    *,
    exists: str,
    status: SearchAttributePair[str],
    client_id: str,
    summary: str,
    details: str | None = None,
    memo: Mapping[str, Any] | None = None,
    attributes: Sequence[SearchAttributePair[Any]] = (),
    opened_by: Actor = SYSTEM,
) -> WorkflowHandle[SelfType, ReturnType]:
    """Start `run` with `request` under the request's workflow id; `CaseExists` (saying
    `exists`) when the id is taken.

    The id is the business key for as long as the history is retained: a second start with
    the same id is refused, never a second case. Every case is listed by its `status` and its
    client (`client_id`) from the start; `attributes` are the kind's other search attributes.

    `opened_by` (the API key's actor, the CLI's operator) goes in the memo, which the
    workflow's first timeline entry reads, and in the details the Temporal UI shows."""
    workflow_id = request.workflow_id
    search_attributes = [status, SearchAttributePair(CLIENT_ID, client_id), *attributes]
    try:
        return await client.start_workflow(
            run,
            request,
            id=workflow_id,
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            task_timeout=WORKFLOW_TASK_TIMEOUT,
            memo={**(memo or {}), OPENED_BY_MEMO: opened_by},
            search_attributes=TypedSearchAttributes(search_attributes),
            static_summary=summary,
            static_details=f"{details or ''}\n- opened by: {opened_by.signature()}".lstrip(),
        )
    except WorkflowAlreadyStartedError as err:
        raise CaseExists(exists, workflow_id) from err
