"""Inquiries (service-level standards: respond within 24–48h): the rules.

An inquiry is acknowledged at once and answered by staff (the answer goes to the customer);
unanswered at 24h the front desk is alerted, at 48h the supervisor. An inquiry that turns
out to be a complaint is promoted: a complaint is filed with the same reference. Pure: the
caller passes `now`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from promptly.domain.common import Actor, ActorKind
from promptly.domain.errors import Refusal, RefusalCode
from promptly.domain.inquiries.models import (
    InquiryCase,
    InquiryPolicy,
    InquiryRequest,
    InquiryStatus,
    PromotedComplaint,
    PromoteInquiryInput,
)


def new_inquiry(
    request: InquiryRequest, received_at: datetime, policy: InquiryPolicy
) -> InquiryCase:
    return InquiryCase(request=request, policy=policy, received_at=received_at)


def answer_deadline(case: InquiryCase) -> datetime:
    return case.received_at + case.policy.answer_within


def supervisor_at(case: InquiryCase) -> datetime:
    return case.received_at + case.policy.supervisor_after


class InquiryStep(StrEnum):
    ALERT_STAFF = "alert_staff"
    ALERT_SUPERVISOR = "alert_supervisor"
    FINISH = "finish"


class InquiryDue(NamedTuple):
    at: datetime
    step: InquiryStep


def inquiry_next_step(case: InquiryCase) -> InquiryDue | None:
    """What the workflow does next on its own; None: nothing left but waiting for staff."""
    if case.closed_at is not None:
        return InquiryDue(case.closed_at + case.policy.keep_open_after, InquiryStep.FINISH)
    if case.alerts == 0:
        return InquiryDue(answer_deadline(case), InquiryStep.ALERT_STAFF)
    if case.alerts == 1:
        return InquiryDue(supervisor_at(case), InquiryStep.ALERT_SUPERVISOR)
    return None


def alerted(case: InquiryCase) -> InquiryCase:
    return case.model_copy(update={"alerts": case.alerts + 1})


def answered(case: InquiryCase, now: datetime, text: str) -> InquiryCase:
    return case.model_copy(
        update={
            "status": InquiryStatus.ANSWERED,
            "answer": text,
            "answered_at": now,
            "closed_at": now,
        }
    )


def promoted(case: InquiryCase, now: datetime, complaint_id: str) -> InquiryCase:
    return case.model_copy(
        update={"status": InquiryStatus.PROMOTED, "complaint_id": complaint_id, "closed_at": now}
    )


def answered_in_time(case: InquiryCase) -> bool:
    return case.answered_at is not None and case.answered_at <= answer_deadline(case)


def inquiry_refusal(update: str, case: InquiryCase, actor: Actor) -> str | None:
    """Why `update` by `actor` is impossible now, or None when it is allowed."""
    return inquiry_state_refusal(update, case) or inquiry_actor_refusal(update, actor)


def inquiry_state_refusal(update: str, case: InquiryCase) -> str | None:
    """Why `update` is impossible in the inquiry's state (the API's 409), or None; an answered
    or promoted inquiry's refusal is a `Refusal` coded `already_ended`."""
    if case.status is InquiryStatus.ANSWERED:
        return Refusal(
            f"{update} refused: the inquiry was already answered", RefusalCode.ALREADY_ENDED
        )
    if case.status is InquiryStatus.PROMOTED:
        return Refusal(
            f"{update} refused: the inquiry became complaint {case.complaint_id}",
            RefusalCode.ALREADY_ENDED,
        )
    return None


def inquiry_actor_refusal(update: str, actor: Actor) -> str | None:
    """Why `actor` may not make `update` at all (the API's 403), or None."""
    if actor.kind is not ActorKind.STAFF:
        return f"{update} refused: only staff may {update.replace('_', ' ')} an inquiry"
    return None


def complaint_from_inquiry(case: InquiryCase, command: PromoteInquiryInput) -> PromotedComplaint:
    """The complaint an inquiry becomes: same reference, customer and channel, opened by
    whoever promoted it."""
    request = case.request
    return PromotedComplaint(
        complaint_id=request.inquiry_id,
        customer=request.customer,
        received_via=request.received_via,
        category=command.category,
        severity=command.severity,
        description=f"{request.subject}: {request.question}"[:5000],
        promoted_by=command.actor,
    )
