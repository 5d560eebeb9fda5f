"""The survey after a visit: its request, the client's answer, the case the workflow keeps
and its status view."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints

from promptly.domain.calendar import HourRange
from promptly.domain.common import ClientAnswer, Model, Person, TimelineEntry, Timezone


def survey_workflow_id(case_workflow_id: str) -> str:
    """The workflow id of the survey a completed visit starts (`survey-appointment-A-1`)."""
    return f"survey-{case_workflow_id}"


class SurveyRequest(Model):
    """The post-visit follow-up: sent `send_after` the end, reminded once, then closed."""

    appointment_case_id: str
    appointment_id: str
    client: Person
    service: str
    visit_ended_at: AwareDatetime
    send_after: timedelta = timedelta(hours=2)
    reminder_after: timedelta = timedelta(hours=24)
    closes_after: timedelta = timedelta(days=7)
    # The zone staff read its times in (timeline, Temporal UI); None for surveys started
    # before the appointment passed it on: the client's, as then.
    office_timezone: Timezone | None = None
    # The client's quiet hours, out of which the survey and its reminder go (the
    # appointment's); None for surveys started before it passed them on.
    quiet_hours: HourRange | None = None
    # The client prefers the phone and a call found their number wrong (none reaching them
    # since): the survey goes by email, or to the desk by hand, not read out to that number.
    client_number_wrong: bool = False

    @property
    def staff_timezone(self) -> str:
        return self.office_timezone or self.client.timezone


class SurveyAnswer(ClientAnswer):
    nps: int = Field(ge=0, le=10, description="0-10: how likely to recommend us")
    comment: Annotated[str, StringConstraints(max_length=4000)] = ""


class SurveyStatus(StrEnum):
    SCHEDULED = "Scheduled"
    SENT = "Sent"
    ANSWERED = "Answered"
    CLOSED = "Closed"


class SurveyCase(Model):
    """What the survey workflow keeps: its request, its plan and what became of it."""

    request: SurveyRequest
    send_at: AwareDatetime
    reminder_at: AwareDatetime
    closes_at: AwareDatetime
    status: SurveyStatus = SurveyStatus.SCHEDULED
    answer: SurveyAnswer | None = None
    complaint_id: str | None = None  # opened for a detractor's answer
    # Messages that could not go out (each also a front-desk task).
    needs_attention: list[str] = Field(default_factory=list)


class SurveyView(Model):
    survey_id: str
    status: SurveyStatus
    send_at: AwareDatetime
    reminder_at: AwareDatetime
    closes_at: AwareDatetime
    answer: SurveyAnswer | None
    complaint_id: str | None
    timeline: list[TimelineEntry]
    # Messages that could not go out (each also a front-desk task).
    needs_attention: list[str] = Field(default_factory=list)


class SurveyAnswerRecord(Model):
    survey_id: str
    case_id: str
    client_id: str
    nps: int
    comment: str
    answered_at: AwareDatetime
