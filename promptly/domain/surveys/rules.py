"""When the survey goes out (within 48h of the visit), when it takes an answer, how an answer
counts, and when a detractor's answer becomes a complaint."""

from __future__ import annotations

from datetime import datetime, timedelta

from promptly.domain.calendar import first_outside, shift_elapsed
from promptly.domain.complaints.models import ComplaintRequest, ReceivedVia, Severity
from promptly.domain.readable_time import readable
from promptly.domain.surveys.models import SurveyAnswer, SurveyCase, SurveyRequest, SurveyStatus

# The post-service follow-up SLA, after a visit and after a closed complaint alike.
SURVEY_WITHIN = timedelta(hours=48)


def new_survey(request: SurveyRequest) -> SurveyCase:
    """Scheduled: sent `send_after` the end but always within 48h, and like its one reminder
    out of the client's quiet hours; then closed."""
    ended = request.visit_ended_at
    send_at = min(
        _awake(request, shift_elapsed(ended, request.send_after)),
        shift_elapsed(ended, SURVEY_WITHIN),
    )
    return SurveyCase(
        request=request,
        send_at=send_at,
        reminder_at=_awake(request, shift_elapsed(send_at, request.reminder_after)),
        closes_at=shift_elapsed(send_at, request.closes_after),
    )


def survey_passed(case: SurveyCase, now: datetime) -> datetime | None:
    """The end of the survey's 48h after the visit, when `now` is past it (the worker was down,
    a backlog): a survey the case comes to later is not sent. Else None."""
    ends = shift_elapsed(case.request.visit_ended_at, SURVEY_WITHIN)
    return ends if now > ends else None


def survey_skipped_note(case: SurveyCase, now: datetime) -> str:
    """The timeline's line for a survey not sent because its 48h had passed."""
    zone = case.request.staff_timezone
    ends = shift_elapsed(case.request.visit_ended_at, SURVEY_WITHIN)
    return (
        f"Survey not sent: its 48h after the visit had ended ({readable(ends, zone)}) when "
        f"the case resumed at {readable(now, zone)}"
    )


def _awake(request: SurveyRequest, moment: datetime) -> datetime:
    """`moment`, or the end of the client's quiet hours it falls in (surveys started before
    they were passed on: `moment` as it is, in the zone it was given in)."""
    if request.quiet_hours is None:
        return moment
    return first_outside(moment, request.client.timezone, request.quiet_hours)


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
