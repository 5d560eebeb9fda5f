"""A message or a staff task that belongs to no case's plan: the answer to a client's reply,
the one confirmation of an SMS opt-out, the fallback of an undelivered SMS.

The API starts one per inbound event with the provider's id in the workflow id, so a webhook
delivered twice starts it once; the activities' idempotency keys cover a retried step.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from promptly.activities.messaging import MessagingActivities
    from promptly.domain import errors
    from promptly.domain.messages import NoticeRequest, NoticeResult

from promptly.workflows.messages import MESSAGE_TIMEOUT
from promptly.workflows.staff_tasks import open_task

NOTICE_BUDGET = timedelta(hours=1)
NOTICE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=[errors.INVALID_RECIPIENT, errors.UNKNOWN_TEMPLATE],
)


@workflow.defn
class ClientNoticeWorkflow:
    @workflow.run
    async def run(self, request: NoticeRequest) -> NoticeResult:
        result = NoticeResult()
        if request.message is not None:
            try:
                result.message = await workflow.execute_activity_method(
                    MessagingActivities.send_message,
                    request.message,
                    start_to_close_timeout=MESSAGE_TIMEOUT,
                    schedule_to_close_timeout=NOTICE_BUDGET,
                    retry_policy=NOTICE_RETRY,
                    summary=f"{request.message.template} via {request.message.channel.value}",
                )
            except ActivityError as err:
                # The task below, when there is one, is how a person learns of it.
                result.message_error = str(err.cause or err)
        if request.task is not None:
            task = await open_task(request.task, f"front-desk task: {request.task.title}")
            result.task_id = task.task_id
        return result
