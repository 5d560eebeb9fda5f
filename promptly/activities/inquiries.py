"""Inquiry rules from the worker's settings, and the complaint an inquiry is promoted to.

The complaint is started here with the Temporal client rather than as a child workflow: it
outlives the inquiry, and a complaint is an independent case with its own retention.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from promptly.domain import errors
from promptly.domain.common import OPENED_BY_MEMO
from promptly.domain.complaints.models import ComplaintRequest, ComplaintStatus
from promptly.domain.inquiries.models import ComplaintOpened, InquiryPolicy, PromotedComplaint
from promptly.domain.workflow_timeouts import WORKFLOW_TASK_TIMEOUT

# The workflow type by name: activities do not import workflow code.
COMPLAINT_WORKFLOW = "ComplaintWorkflow"
_COMPLAINT_STATUS = SearchAttributeKey.for_keyword("ComplaintStatus")
_CLIENT_ID = SearchAttributeKey.for_keyword("ClientId")


class InquiryActivities:
    def __init__(
        self, client: Client, task_queue: str, policy: InquiryPolicy, time_scale: float = 1
    ) -> None:
        self._client = client
        self._task_queue = task_queue
        self._policy = policy.scaled(time_scale)

    @activity.defn
    async def inquiry_policy(self) -> InquiryPolicy:
        return self._policy

    @activity.defn
    async def open_complaint(self, promoted: PromotedComplaint) -> ComplaintOpened:
        """File the complaint once: a retry finds the one an earlier attempt started. Whoever
        promoted the inquiry opened it (the memo its first timeline entry reads)."""
        request = promoted.request()
        try:
            await self._client.start_workflow(
                COMPLAINT_WORKFLOW,
                request,
                id=request.workflow_id,
                task_queue=self._task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                task_timeout=WORKFLOW_TASK_TIMEOUT,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(_COMPLAINT_STATUS, ComplaintStatus.OPEN.value),
                        SearchAttributePair(_CLIENT_ID, request.customer.id),
                    ]
                ),
                memo={OPENED_BY_MEMO: promoted.promoted_by},
                static_summary=f"Complaint {request.complaint_id} (from an inquiry) · "
                f"{request.category} · {request.severity.value} · customer {request.customer.id}",
                static_details=f"- opened by: {promoted.promoted_by.signature()}",
            )
        except WorkflowAlreadyStartedError:
            await self._same_customers(request)
            return ComplaintOpened(
                complaint_id=request.complaint_id, workflow_id=request.workflow_id, created=False
            )
        return ComplaintOpened(
            complaint_id=request.complaint_id, workflow_id=request.workflow_id, created=True
        )

    async def _same_customers(self, request: ComplaintRequest) -> None:
        """The complaint under this id is this customer's (an earlier attempt's, or one the
        back office filed): anyone else's is never taken over."""
        described = await self._client.get_workflow_handle(request.workflow_id).describe()
        owner = described.typed_search_attributes.get(_CLIENT_ID)
        if owner != request.customer.id:
            raise ApplicationError(
                f"complaint {request.complaint_id} exists already for another customer",
                type=errors.COMPLAINT_ID_TAKEN,
                non_retryable=True,
            )
