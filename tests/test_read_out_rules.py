"""The rules of a message read out by phone (promptly/domain/read_outs.py)."""

from __future__ import annotations

import pytest

from promptly.domain.common import Channel, Locale
from promptly.domain.read_outs import (
    NotReached,
    ReadOutOutcome,
    call_task_title,
    missed,
    not_reached,
    receipt,
)
from promptly.domain.rendering import render
from promptly.domain.sms import DeliveryStatus

REACHED, CONFIRMED, NO_ANSWER, WRONG = (
    ReadOutOutcome.REACHED,
    ReadOutOutcome.REACHED_CONFIRMED,
    ReadOutOutcome.NO_ANSWER,
    ReadOutOutcome.WRONG_NUMBER,
)


def test_the_calls_outcome_is_the_messages_receipt() -> None:
    assert [receipt(outcome) for outcome in ReadOutOutcome] == [
        DeliveryStatus.DELIVERED,
        DeliveryStatus.DELIVERED,
        DeliveryStatus.UNDELIVERED,
        DeliveryStatus.UNDELIVERED,
    ]


@pytest.mark.parametrize(
    ("outcome", "template", "email_known", "follows"),
    [
        # Heard: nothing more.
        (REACHED, "reminder", True, None),
        (CONFIRMED, "phone_confirmation", True, None),
        # Not heard: by email when there is one; nothing to do without one.
        (NO_ANSWER, "reminder", True, NotReached(by_email=True, check_number=False)),
        (NO_ANSWER, "reminder", False, None),
        # A wrong number is the desk's to put right, with or without an email.
        (WRONG, "delay_notice", True, NotReached(by_email=True, check_number=True)),
        (WRONG, "delay_notice", False, NotReached(by_email=False, check_number=True)),
        # The confirmation's script is for the desk to say: never emailed to the client.
        (NO_ANSWER, "phone_confirmation", True, None),
        (WRONG, "phone_confirmation", True, NotReached(by_email=False, check_number=True)),
    ],
)
def test_a_client_the_desk_could_not_reach_gets_the_message_another_way(
    outcome: ReadOutOutcome, template: str, email_known: bool, follows: NotReached | None
) -> None:
    assert not_reached(outcome, template, "client", email_known) == follows


def test_only_a_message_to_the_client_goes_another_way() -> None:
    assert not_reached(WRONG, "supervisor_alert", "supervisor", True) is None
    # Only a client's message they did not hear is followed up (and its client looked up).
    assert [missed(outcome, "client") for outcome in ReadOutOutcome] == [False, False, True, True]
    assert not missed(NO_ANSWER, "provider")


def test_the_call_task_says_whom_to_call_once() -> None:
    # A message for the client: the desk is told to read it out.
    assert (
        call_task_title("reminder", "Anna Nowak", "Reminder: your visit")
        == "Call Anna Nowak and read out: Reminder: your visit"
    )
    assert call_task_title("reminder", "", "Reminder") == "Call the client and read out: Reminder"
    # The confirmation's script already says whom to call and why.
    script = "Call Anna Nowak to confirm Dental check-up on Mon 3 Dec, 09:00"
    assert call_task_title("phone_confirmation", "Anna Nowak", script) == script


def _desk_script(locale: Locale, **flags: object) -> str:
    context = {
        "case_id": "appointment-A-1",
        "reference": "A-1",
        "client_name": "Anna Nowak",
        "phone": "+48600100200",
        "service": "Physiotherapy",
        "start": "2026-12-07T09:00:00+01:00",
        "location": "ul. Prosta 1",
        "provider_name": "Jan Kowalski",
        "instructions": "",
        "price": "",
        "rescheduled": False,
        "prepayment_required": False,
        "late_reschedule_charged": False,
    } | flags
    return render("phone_confirmation", locale, "Europe/Warsaw", context, Channel.PHONE).body


def test_the_desk_script_tells_a_phone_client_what_the_email_tells_the_others() -> None:
    plain = _desk_script(Locale.EN)
    # The terms every client is told: free changes up to the line, the fee after it, no-show.
    assert (
        "Cancelling or rescheduling at least 24 hours ahead is free of charge; later, the visit"
        " is charged as if it had taken place. Not arriving within 15 minutes of the start"
        " counts as a no-show." in plain
    )
    assert "Price" not in plain and "Tell them" not in plain and "new time" not in plain
    # A late move to a client who must prepay: the desk says all of it, and what may lift it.
    script = _desk_script(
        Locale.EN,
        rescheduled=True,
        price="120.50 PLN",
        prepayment_required=True,
        late_reschedule_charged=True,
    )
    assert "with Jan Kowalski. This is the visit's new time." in script
    assert "Price: 120.50 PLN." in script
    assert "this visit must be paid for in advance" in script
    assert "so that visit is charged as if it had taken place" in script
    assert "note why on this task: the provider may waive the fee" in script
    polish = _desk_script(Locale.PL, prepayment_required=True, late_reschedule_charged=True)
    assert "należy opłacić z góry" in polish and "może odstąpić od opłaty" in polish
    assert "oznacza nieobecność" in polish
