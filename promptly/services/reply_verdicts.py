"""A complaint customer's SMS answer to the resolution proposal: when our last SMS to the
number was that proposal and the complaint still waits for the verdict, a plain yes or no is
the customer's verdict, given as the customer (as if told by a link or to the desk:
services/told_answers.py). Anything less plain is a task for a person (services/inbound.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from promptly.config import Settings
from promptly.domain.common import Actor, ActorKind, CaseKind, Channel
from promptly.domain.complaints.models import FINAL_COMPLAINT_STATUSES, CustomerVerdictInput
from promptly.domain.sms import ReplyIntent, plain_no
from promptly.services.updates import bounded_update
from promptly.workflows.complaint import ComplaintWorkflow

if TYPE_CHECKING:
    from promptly.services.inbound_store import InboundReply

# The complaint's message that asks the customer whether the resolution satisfies them.
ASKS_VERDICT = "resolution_proposed"


def verdict_of(named: dict[str, Any], intent: ReplyIntent, reply: InboundReply) -> bool | None:
    """Whether the reply accepts the resolution the case `named` (our last SMS to the number:
    its `kind`, `status`, `template`) proposed; None when it is no verdict."""
    if (
        reply.channel is not Channel.SMS
        or named.get("kind") != CaseKind.COMPLAINT.value
        or named.get("template") != ASKS_VERDICT
        # The row may not show the proposal yet (it is written beside the send); the update's
        # validator refuses a complaint no longer asking, and the reply becomes a task.
        or named.get("status") in {status.value for status in FINAL_COMPLAINT_STATUSES}
        or named.get("client_id") is None
    ):
        return None
    if intent is ReplyIntent.CONFIRM:
        return True
    if intent is ReplyIntent.OTHER and plain_no(reply.text):
        return False
    return None


async def give_verdict(
    client: Client,
    settings: Settings,
    reply: InboundReply,
    text: str,
    complaint: dict[str, Any],
    satisfied: bool,
) -> str:
    """Runs the complaint's `customer_verdict` as the customer, once per reply (its update id
    holds the MessageSid). Returns why the complaint refused it, "" when it took it."""
    handle = client.get_workflow_handle(complaint["case_id"])
    answer = CustomerVerdictInput(
        satisfied=satisfied,
        comment=f"by SMS reply: {text}"[:4000],
        actor=Actor(kind=ActorKind.CLIENT, id=complaint["client_id"]),
    )
    try:
        await bounded_update(
            handle,
            ComplaintWorkflow.customer_verdict,
            answer,
            settings.api_update_timeout,
            f"reply-{reply.provider_id}",
        )
    except WorkflowUpdateFailedError as err:
        return str(err.cause.message if err.cause else err)  # type: ignore[attr-defined]
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:
            raise  # Temporal away: the reply waits (services/waiting_inbound.py)
        return "the complaint's case is closed"
    return ""
