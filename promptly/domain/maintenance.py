"""The scheduled jobs' inputs and outputs: archive, retention purge, the weekly QA report."""

from __future__ import annotations

from datetime import date, timedelta

from pydantic import AwareDatetime, Field

from promptly.domain.common import Model


class ArchiveRequest(Model):
    """Copy closed case histories into PostgreSQL. Without `since`, from the newest archived
    close time minus `overlap` (visibility is eventually consistent; copies are idempotent)."""

    since: AwareDatetime | None = None
    overlap: timedelta = timedelta(hours=1)


class ArchiveResult(Model):
    since: AwareDatetime | None
    archived: int = Field(description="histories newly copied")
    already_archived: int = Field(description="closed runs found that were already copied")


class PurgeRequest(Model):
    """Delete what is older than the worker's retention setting; `now` defaults to the
    workflow's start time (the schedule's fire time)."""

    now: AwareDatetime | None = None


class PurgeInput(Model):
    now: AwareDatetime


class PurgeResult(Model):
    cutoff: AwareDatetime = Field(description="closed before this instant: deleted")
    retention: timedelta
    cases: int
    timeline_events: int
    messages: int
    staff_tasks: int
    survey_responses: int
    archived_histories: int
    webhook_deliveries: int = 0
    promises: int = 0
    inbound_messages: int = Field(default=0, description="client replies")
    clients: int = Field(default=0, description="clients left without any case")
    sms_numbers: int = Field(default=0, description="numbers no client holds; opt-outs stay")
    billing_reasons: int = Field(
        default=0, description="billing outcomes whose free-text reason was blanked; rows stay"
    )
    kept_on_hold: int = Field(
        default=0, description="closed cases past the cutoff kept by a legal hold"
    )
    kept_for_open_complaints: int = Field(
        default=0, description="appointments past the cutoff that an open complaint is about"
    )


class QaReportRequest(Model):
    """Report the `weeks` full weeks before `as_of` (default: the schedule's fire time)."""

    as_of: AwareDatetime | None = None
    weeks: int = Field(default=1, ge=1, le=13)


class QaReportInput(Model):
    as_of: AwareDatetime
    weeks: int = 1


class QaReportSummary(Model):
    first: date
    last: date
    timezone: str
    appointments: int
    complaints: int
    table: str = Field(description="the plain-text report, as mailed")
