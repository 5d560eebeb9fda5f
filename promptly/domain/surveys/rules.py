"""When the survey goes out (within 48h of the visit), when it takes an answer, how an answer
counts, and when a detractor's answer becomes a complaint."""

from __future__ import annotations

from datetime import timedelta

from promptly.domain.calendar import shift_elapsed
from promptly.domain.complaints.models import ComplaintRequest, ReceivedVia, Severity
from promptly.domain.surveys.models import SurveyAnswer, SurveyCase, SurveyRequest, SurveyStatus

SURVEY_WITHIN = timedelta(hours=48)


def new_survey(request: SurveyRequest) -> SurveyCase:
    """Scheduled: sent `send_after` the end but always within 48h; one reminder; then closed."""
    send_at = shift_elapsed(request.visit_ended_at, min(request.send_after, SURVEY_WITHIN))
    return SurveyCase(
        request=request,
        send_at=send_at,
        reminder_at=shift_elapsed(send_at, request.reminder_after),
        closes_at=shift_elapsed(send_at, request.closes_after),
    )


def answer_refusal(case: SurveyCase) -> str | None:
    """Why the client cannot answer now (one answer, until the survey closes), or None."""
    if case.answer is not None:
        return "answer refused: the survey is already answered"
    if case.status is SurveyStatus.CLOSED:
        return "answer refused: the survey is closed"
    return None


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
