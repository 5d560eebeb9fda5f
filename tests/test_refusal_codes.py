"""A rule's refusal carries the code a program switches on (docs/http-api.md "Error codes"):
the API's 409 `code` comes from the refusal itself, through the workflow's error, never from
its words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.api.failure.v1 import Failure
from temporalio.client import WorkflowUpdateFailedError
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError

from promptly.domain.appointments.models import AppointmentCase, AppointmentStatus
from promptly.domain.appointments.rules import reschedule_refusal, transition_refusal
from promptly.domain.complaints import rules as complaint_rules
from promptly.domain.complaints.models import ComplaintStatus
from promptly.domain.errors import Refusal, RefusalCode, refusal_code
from promptly.domain.inquiries import rules as inquiries
from promptly.domain.inquiries.models import InquiryCase, InquiryPolicy
from promptly.services.errors import ErrorCode, ServiceError, temporal_errors
from promptly.workflows.case import refuse
from tests.complaint_helpers import inquiry
from tests.test_complaint_policy import case_at
from tests.test_policy import case_for, warsaw

H = timedelta(hours=1)


def _appointment(status: AppointmentStatus = AppointmentStatus.BOOKED) -> AppointmentCase:
    return case_for(warsaw(11, 5, 10), warsaw(11, 2, 10), status=status)


def _inquiry() -> InquiryCase:
    return inquiries.new_inquiry(inquiry(), datetime(2026, 12, 4, 16, tzinfo=UTC), InquiryPolicy())


def test_each_coded_refusal_carries_its_code() -> None:
    now = warsaw(11, 3, 9)
    ended = transition_refusal("cancel", _appointment(AppointmentStatus.CANCELLED), now)
    assert isinstance(ended, Refusal) and ended.code is RefusalCode.ALREADY_ENDED
    same = reschedule_refusal(_appointment(), warsaw(11, 5, 10), now)
    assert isinstance(same, Refusal) and same.code is RefusalCode.SAME_TIME
    closed = case_at(warsaw(11, 2, 10)).model_copy(update={"status": ComplaintStatus.CLOSED})
    refusal = complaint_rules.complaint_state_refusal("hold", closed)
    assert isinstance(refusal, Refusal) and refusal.code is RefusalCode.ALREADY_ENDED
    at = datetime(2026, 12, 4, 17, tzinfo=UTC)
    for case in (
        inquiries.answered(_inquiry(), at, "Yes"),
        inquiries.promoted(_inquiry(), at, "K-1"),
    ):
        refusal = inquiries.inquiry_state_refusal("answer", case)
        assert isinstance(refusal, Refusal) and refusal.code is RefusalCode.ALREADY_ENDED
    # Any other refusal is plain text, coded `conflict`: "already on hold" is no end.
    on_hold = closed.model_copy(update={"status": ComplaintStatus.ON_HOLD})
    held = complaint_rules.complaint_state_refusal("hold", on_hold)
    assert held == "hold refused: the complaint is already on hold"
    assert refusal_code(held) is RefusalCode.CONFLICT


def test_every_refusal_code_is_an_api_error_code() -> None:
    assert {code.value for code in RefusalCode} <= {code.value for code in ErrorCode}


def _answered(refusal: str) -> ServiceError:
    """What the API answers when a workflow's update handler or validator `refuse`s: the
    ApplicationError goes through Temporal's failure encoding as it does between them."""
    with pytest.raises(ApplicationError) as raised:
        refuse(refusal)
    converter = DataConverter.default
    failure = Failure()
    converter.failure_converter.to_failure(raised.value, converter.payload_converter, failure)
    cause = converter.failure_converter.from_failure(failure, converter.payload_converter)
    with pytest.raises(ServiceError) as answered, temporal_errors("no such case"):
        raise WorkflowUpdateFailedError(cause)
    return answered.value


def test_a_reworded_refusal_keeps_its_code_and_words_give_none() -> None:
    reworded = _answered(Refusal("reschedule refused: that is when it is", RefusalCode.SAME_TIME))
    assert (reworded.status, reworded.code) == (409, ErrorCode.SAME_TIME)
    assert reworded.reason == "reschedule refused: that is when it is"
    ended = _answered(Refusal("cancel refused: it is over", RefusalCode.ALREADY_ENDED))
    assert ended.code is ErrorCode.ALREADY_ENDED
    # The words a code once was read from, without the code: plain conflict.
    plain = _answered("cancel refused: the appointment is already Cancelled")
    assert (plain.status, plain.code) == (409, ErrorCode.CONFLICT)
