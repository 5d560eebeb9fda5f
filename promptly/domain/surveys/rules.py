"""When the survey goes out (within 48h of the visit), how an answer counts, and when a
detractor's answer becomes a complaint."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from promptly.domain.calendar import shift_elapsed
from promptly.domain.complaints.models import ComplaintRequest, ReceivedVia, Severity
from promptly.domain.surveys.models import SurveyAnswer, SurveyRequest

SURVEY_WITHIN = timedelta(hours=48)


class SurveyPlan(NamedTuple):
    send_at: datetime
    reminder_at: datetime
    closes_at: datetime


def survey_plan(request: SurveyRequest) -> SurveyPlan:
    """Sent `send_after` the end but always within 48h; one reminder; then closed."""
    send_at = shift_elapsed(request.visit_ended_at, min(request.send_after, SURVEY_WITHIN))
    return SurveyPlan(
        send_at=send_at,
        reminder_at=shift_elapsed(send_at, request.reminder_after),
        closes_at=shift_elapsed(send_at, request.closes_after),
    )


def nps_category(nps: int) -> str:
    """Net Promoter Score bands: 9–10 promoter, 7–8 passive, 0–6 detractor."""
    if nps >= 9:
        return "promoter"
    if nps >= 7:
        return "passive"
    return "detractor"


def detractor_complaint(survey: SurveyRequest, answer: SurveyAnswer) -> ComplaintRequest:
    """The complaint a detractor's answer opens; very low scores are treated as high severity."""
    comment = answer.comment.strip() or "(no comment)"
    return ComplaintRequest(
        complaint_id=f"survey-{survey.appointment_id}",
        customer=survey.client,
        received_via=ReceivedVia.SURVEY,
        category="service",
        severity=Severity.HIGH if answer.nps <= 3 else Severity.NORMAL,
        description=f"Survey after {survey.service}: NPS {answer.nps}. {comment}",
        appointment_id=survey.appointment_id,
    )
