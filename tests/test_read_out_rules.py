"""The rules of a message read out by phone (promptly/domain/read_outs.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from promptly.domain.appointments import fees
from promptly.domain.appointments.models import AppointmentPolicy, Price
from promptly.domain.common import Channel, Locale
from promptly.domain.read_outs import (
    NotReached,
    ReadOutOutcome,
    call_task_title,
    changing_now,
    client_channel,
    client_language,
    in_writing_note,
    missed,
    not_reached,
    pass_on_without_the_number,
    receipt,
    visit_for_the_desk,
    wrong_number_task,
)
from promptly.domain.rendering import render, template_names
from promptly.domain.sms import DeliveryStatus
from promptly.services import told_answers
from promptly.services.staff_tasks import TaskCompletion
from tests.message_contexts import every_line

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
    # A message for the client: the desk is told to read it out, as the client will hear it.
    assert (
        call_task_title("reminder", "Anna Nowak", "Reminder: your visit", {}, "Europe/Warsaw")
        == "Call Anna Nowak and read out: Reminder: your visit"
    )
    assert (
        call_task_title("reminder", "", "Reminder", {}, "Europe/Warsaw")
        == "Call the client and read out: Reminder"
    )


@pytest.mark.parametrize("locale", list(Locale))
def test_the_confirmation_call_is_titled_in_english_whatever_the_clients_language(
    locale: Locale,
) -> None:
    """The desk's script is in the client's language, to be said to them; its task's title is
    for the staff, in English and office time, as every other task's."""
    context = _DESK_CONTEXT | {"links": {}}
    script = render("phone_confirmation", locale, "Europe/Warsaw", context, Channel.PHONE)
    title = call_task_title(
        "phone_confirmation", "Anna Nowak", script.subject, context, "Europe/Warsaw"
    )
    assert title == (
        "Call Anna Nowak to confirm Physiotherapy on Monday, 7 December 2026, 09:00 (Europe/Warsaw)"
    )
    # In the office's time, which the desk's other times are in, its zone named: the script
    # in the details says the client's time.
    tokyo = call_task_title("phone_confirmation", "Anna Nowak", "", context, "Asia/Tokyo")
    assert tokyo.endswith("7 December 2026, 17:00 (Asia/Tokyo)")


def test_a_call_task_gives_the_visit_in_the_clients_time_with_the_offices_beside() -> None:
    start = datetime(2026, 12, 2, 1, 40, tzinfo=UTC)
    assert visit_for_the_desk(start, "Europe/Warsaw", "Asia/Tokyo") == (
        "2026-12-02 02:40 Europe/Warsaw (the client's time; 2026-12-02 10:40 Asia/Tokyo "
        "office time)"
    )
    assert visit_for_the_desk(start, "Europe/Warsaw", "Europe/Warsaw") == (
        "2026-12-02 02:40 Europe/Warsaw"
    )
    assert client_language(Locale.PL) == "Client's language: Polish."


@pytest.mark.parametrize(
    ("email", "emailed", "then"),
    [
        ("anna@example.com", True, "The message went by email to anna@example.com"),
        ("anna@example.com", False, "Ask the client for the right number by email"),
        (None, False, "No email is on record"),
    ],
)
def test_a_wrong_number_task_says_how_to_reach_the_client(
    email: str | None, emailed: bool, then: str
) -> None:
    title, details = wrong_number_task(
        "Anna Nowak", "+48600100200", email, "Call attempt 1 failed", emailed=emailed
    )
    assert title == "Wrong number for Anna Nowak: +48600100200"
    assert details.startswith("Call attempt 1 failed: +48600100200 is a wrong number. " + then)


_DESK_CONTEXT: dict[str, object] = {
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
}


def _desk_script(locale: Locale, **flags: object) -> str:
    context = _DESK_CONTEXT | flags
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


# What a phone client may be read: the client's messages, less the desk's own script and the
# texts that only go by SMS or say a call or a text failed (those go by email).
NOT_READ_OUT = {
    "complaint_alert",
    "complaint_assigned",
    "complaint_department",
    "inquiry_alert",
    "provider_booking",
    "provider_cancellation",
    "provider_decision",
    "qa_report",
    "supervisor_alert",
    "phone_confirmation",
    "sms_opted_in",
    "sms_opted_out",
    "undelivered_sms",
    "unreached_call",
}
READ_OUT = sorted(template_names() - NOT_READ_OUT)
# How a written message asks for an answer, which a client on the phone cannot do.
WRITTEN_ANSWERS = {
    Locale.EN: re.compile(r"\breply|\bclick", re.IGNORECASE),
    Locale.PL: re.compile(r"na tę wiadomość|odpis|kliknię|napisz", re.IGNORECASE),
}
# The branch of a template with more than one that asks for an answer.
ASKING = {"cancellation": {"outcome": "late_cancel"}}


@pytest.mark.parametrize("locale", list(Locale))
@pytest.mark.parametrize("template", READ_OUT)
def test_a_message_read_out_asks_for_the_answer_on_the_call(template: str, locale: Locale) -> None:
    context = every_line(template, locale) | ASKING.get(template, {})
    by_phone = render(template, locale, "Europe/Warsaw", context, Channel.PHONE).body
    assert not WRITTEN_ANSWERS[locale].search(by_phone), by_phone


@pytest.mark.parametrize(
    ("template", "by_email", "by_phone"),
    [
        ("fee_stands", "reply to this message", "If you have more to tell us, tell us now."),
        ("cancellation", "reply and tell us", "tell us now: your provider may waive the fee"),
        ("inquiry_answer", "reply to this message quoting", "tell us now; your reference is"),
        ("resolution_proposed", "reply to this message or contact", "tell us now, or contact"),
        ("survey", "Answer in one click: https://", "(0–10)?\nJust tell us the number."),
        ("complaint_survey", "Answer in one click: https://", "Just tell us the number"),
    ],
)
def test_the_same_message_by_email_asks_for_a_reply(
    template: str, by_email: str, by_phone: str
) -> None:
    context = every_line(template, Locale.EN) | ASKING.get(template, {})
    context["links"] = context.get("links", {}) | {"complaint_feedback": "https://p.example/c/f"}
    email = render(template, Locale.EN, "Europe/Warsaw", context, Channel.EMAIL).body
    phone = render(template, Locale.EN, "Europe/Warsaw", context, Channel.PHONE).body
    assert by_email in email and by_email not in phone
    assert by_phone in phone and by_phone not in email


def test_a_call_that_missed_passes_the_message_on_greeted_once() -> None:
    context = every_line("fee_stands", Locale.EN) | {"client_name": "Anna Nowak"}
    read = render("fee_stands", Locale.EN, "Europe/Warsaw", context, Channel.PHONE)
    email = render(
        "unreached_call",
        Locale.EN,
        "Europe/Warsaw",
        {"original_subject": read.subject, "original_text": read.body, "phone": "+48600100200"}
        | {"links": {}},
        Channel.EMAIL,
    )
    assert email.subject == read.subject
    assert email.body.count("Hello") == 1
    # The message is quoted whole, every line indented, and the email says how to answer it.
    quoted = [line for line in email.body.splitlines() if line.startswith("  ")]
    assert [line.strip() for line in quoted] == [
        line for line in read.body.strip().splitlines() if line
    ]
    assert email.body.rstrip().endswith("just reply to this email.")


def _told(outcome: ReadOutOutcome, **answer: int | bool) -> TaskCompletion:
    return TaskCompletion.model_validate({"outcome": outcome.value} | answer)


def test_only_a_client_reached_on_a_surveys_call_gives_a_score() -> None:
    for template in ("survey", "survey_reminder", "complaint_survey"):
        assert told_answers.refusal(template, _told(REACHED, score=9)) == []
    assert told_answers.refusal("survey", _told(NO_ANSWER, score=9)) == [
        ("score", "only a client reached (outcome reached) can give one")
    ]
    only_surveys = [("score", "only a survey or a complaint's follow-up asks for one")]
    # A complaint's other messages do not ask it, nor does a task that read no message out.
    for other in ("reminder", "resolution_proposed", "complaint_closed", None):
        assert told_answers.refusal(other, _told(REACHED, score=9)) == only_surveys
    assert told_answers.refusal("reminder", _told(REACHED)) == []  # nothing told: no question


def test_only_a_customer_reached_on_a_resolution_proposals_call_gives_a_verdict() -> None:
    for satisfied in (True, False):
        verdict = _told(REACHED, satisfied=satisfied)
        assert told_answers.refusal("resolution_proposed", verdict) == []
    assert told_answers.refusal("resolution_proposed", _told(NO_ANSWER, satisfied=False)) == [
        ("satisfied", "only a client reached (outcome reached) can give one")
    ]
    only_proposals = [("satisfied", "only a complaint's resolution proposal asks for one")]
    for other in ("complaint_survey", "escalation", "survey", None):
        assert told_answers.refusal(other, _told(REACHED, satisfied=True)) == only_proposals
    # One call answers one question: a score beside a verdict is refused whatever was read.
    for template in ("resolution_proposed", "complaint_survey"):
        assert told_answers.refusal(template, _told(REACHED, score=3, satisfied=False)) == [
            ("satisfied", "one call answers one question: give score or satisfied")
        ]


@pytest.mark.parametrize("preferred", list(Channel))
def test_a_number_known_wrong_is_never_read_out_to(preferred: Channel) -> None:
    """A phone client whose number is known wrong is written to; any other client, and a
    phone client once a call reached them (the flag cleared), hears by their own channel."""
    assert client_channel(preferred, number_wrong=False) is preferred
    wrong = client_channel(preferred, number_wrong=True)
    assert wrong is (Channel.EMAIL if preferred is Channel.PHONE else preferred)


def test_the_case_and_the_desk_say_the_number_on_file_is_wrong() -> None:
    assert in_writing_note("the cancellation", "+48600100200", "anna@example.com") == (
        "The number on file is wrong: the cancellation goes by email, not read out to +48600100200"
    )
    assert in_writing_note("the reminder", "+48600100200", None) == (
        "The number on file is wrong and no email is on record: the front desk passes the "
        "reminder on once it has the right number"
    )
    by_hand = pass_on_without_the_number("+48600100200")
    assert "+48600100200, is wrong" in by_hand and "by phone" not in by_hand


# What the desk reads of changing the visit, by the moment the script was written.
LATE_NOW = {
    Locale.EN: "rescheduling now is late: the visit is charged as if it had taken place",
    Locale.PL: "teraz są już późne: wizyta liczy się jako odbyta",
}
FREE_UNTIL = {
    Locale.EN: "is free of charge until Friday, 4 December 2026, 10:00; from then on",
    Locale.PL: "są bezpłatne przed tą chwilą: piątek, 4 grudnia 2026, 10:00; później",
}
# What contradicts it: the standing rule, free up to the line, on a call already past it.
STANDING_RULE = re.compile(r"at least 24 hours ahead|wyprzedzeniu nie krótszym")


@pytest.mark.parametrize("locale", list(Locale))
@pytest.mark.parametrize("template", ["phone_confirmation", "confirmation", "reminder"])
def test_a_read_out_says_what_holds_of_changes_when_the_call_is_written(
    template: str, locale: Locale
) -> None:
    start = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)  # Saturday 10:00 in Warsaw
    policy = AppointmentPolicy()

    def script(now: datetime) -> str:
        context = every_line(template, locale) | {
            "start": start.isoformat(),
            "price": "120.50 PLN",
            "late_change_within": 24 * 3600,
            "no_show_after": 15 * 60,
            **fees.change_terms(start, now, policy),
        }
        body = render(template, locale, "Europe/Warsaw", context, Channel.PHONE).body
        return " ".join(body.split())  # as the desk says it, whatever the lines' breaks

    late = script(start - timedelta(hours=5))
    assert LATE_NOW[locale] in late and not STANDING_RULE.search(late), late
    assert ("(120.50 PLN)" if locale is Locale.EN else "(120,50 zł)") in late
    days_ahead = script(start - timedelta(days=3))
    assert FREE_UNTIL[locale] in days_ahead and LATE_NOW[locale] not in days_ahead, days_ahead


def test_a_follow_up_call_says_what_a_change_costs_now_or_from_when() -> None:
    start = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    price = Price(amount=Decimal("120.50"), currency="PLN")

    def said(now: datetime) -> str:
        policy = AppointmentPolicy()
        return changing_now(start, now, policy, price, "Europe/Warsaw", "Europe/Warsaw")

    assert said(start - timedelta(hours=5)) == (
        " Cancelling or moving the visit now is late: it counts as held and is charged"
        " (120.50 PLN)."
    )
    assert said(start - timedelta(days=3)) == (
        " Cancelling or moving the visit is free until 2026-12-04 10:00 Europe/Warsaw; from"
        " then on, it counts as held and is charged (120.50 PLN)."
    )
