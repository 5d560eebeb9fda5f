"""Starting a `ClientNoticeWorkflow` (workflows/notices.py): a message or a staff task that
belongs to no case's plan, started once per inbound event (a reply, a delivery receipt) with
the event's id in the workflow id."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from promptly.config import Settings
from promptly.domain.messages import NoticeRequest
from promptly.domain.workflow_timeouts import WORKFLOW_TASK_TIMEOUT
from promptly.workflows.notices import ClientNoticeWorkflow


async def start_notice(
    client: Client, settings: Settings, workflow_id: str, request: NoticeRequest
) -> None:
    """Start the notice once: a second start under the same id is the same event again."""
    try:
        await client.start_workflow(
            ClientNoticeWorkflow.run,
            request,
            id=workflow_id,
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            task_timeout=WORKFLOW_TASK_TIMEOUT,
        )
    except WorkflowAlreadyStartedError:
        pass
