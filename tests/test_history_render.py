"""What a compliance reader sees in a rendered export (Markdown, HTML, JSON, the client's
Markdown), on export models built by hand: times to the second with their UTC offset, the
delivery receipt's time and the provider's id, no subject where none was sent, an inquiry's
question. The same models `load_case` and `load_client` fill from PostgreSQL
(tests/test_history_export.py, tests/test_history_replies.py, tests/test_inquiry.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from promptly.domain.readable_time import exact, readable, readable_text
from promptly.services.history_models import (
    CaseExport,
    ClientCase,
    ClientExport,
    ExportedEntry,
    ExportedMessage,
    Format,
)
from promptly.services.history_render import render_case, render_client_markdown
from promptly.services.promise_ledger import LedgerRow

WARSAW = "Europe/Warsaw"
ZONE = ZoneInfo(WARSAW)


def at(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    """A UTC moment, in the export's timezone (as load_case hands them over)."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).astimezone(ZONE)


def case(
    entries: tuple[ExportedEntry, ...] = (),
    starts_at: datetime | None = None,
    kind: str = "appointment",
) -> CaseExport:
    return CaseExport(
        case_id=f"{kind}-X-1",
        kind=kind,
        business_id="X-1",
        status="Open",
        client_id="C-17",
        provider_id=None,
        starts_at=starts_at,
        details={},
        timezone=WARSAW,
        entries=list(entries),
    )


def message(channel: str, **changes: Any) -> ExportedMessage:
    fields: dict[str, Any] = {
        "message_id": 21,
        "template": "confirmation",
        "channel": channel,
        "recipient_role": "client",
        "recipient": "+48600100200" if channel != "email" else "anna@example.com",
        "locale": "pl",
        "subject": "Wizyta zarezerwowana: środa, 2 grudnia 2026, 02:48",
        "body": "Twoja wizyta: sroda 2 grudnia, 02:48. Potwierdz: [confirm link, token ab12]\n",
        "status": "sent",
        "attempts": 1,
        "last_error": None,
        "requested_at": at(2026, 12, 2, 1, 18, 7),
        "sent_at": at(2026, 12, 2, 1, 19, 3),
    }
    return ExportedMessage(**(fields | changes))


def message_entry(sent: ExportedMessage) -> ExportedEntry:
    return ExportedEntry(
        seq=3,
        at=sent.requested_at,
        kind="message",
        actor="system:promptly",
        detail="Confirmation sent",
        channel=sent.channel,
        data={"template": sent.template, "message_id": sent.message_id},
        message=sent,
    )


def client_export(*messages: ExportedMessage) -> ClientExport:
    return ClientExport(
        client_id="C-17",
        timezone=WARSAW,
        cases=[
            ClientCase(
                case_id="appointment-X-1",
                kind="appointment",
                business_id="X-1",
                status="Booked",
                created_at=at(2026, 12, 2, 1, 18, 7),
                starts_at=None,
                messages=list(messages),
            )
        ],
    )


# --- times ---------------------------------------------------------------------------------


def test_two_visits_an_hour_apart_across_the_autumn_clock_change_export_apart() -> None:
    first, second = at(2027, 10, 31, 0, 30), at(2027, 10, 31, 1, 30)  # both 02:30 in Warsaw
    one, other = (render_case(case(starts_at=start), Format.MD) for start in (first, second))
    assert "| visit | 2027-10-31 02:30:00 +02:00 |" in one
    assert "| visit | 2027-10-31 02:30:00 +01:00 |" in other
    assert f"| times in | {WARSAW} |" in one  # the zone named once, in the header
    one, other = (render_case(case(starts_at=start), Format.HTML) for start in (first, second))
    assert "<th>visit</th><td>2027-10-31 02:30:00 +02:00</td>" in one
    assert "<th>visit</th><td>2027-10-31 02:30:00 +01:00</td>" in other
    # The short form people read at work tells the repeated hour apart by its offset too.
    assert readable(first, WARSAW) == "2027-10-31 02:30 Europe/Warsaw (+02:00)"
    assert readable(second, WARSAW) == "2027-10-31 02:30 Europe/Warsaw (+01:00)"
    assert readable(at(2027, 10, 31, 2, 30), WARSAW) == "2027-10-31 03:30 Europe/Warsaw"


def test_a_late_cancellation_shows_its_seconds_against_the_free_cancellation_line() -> None:
    start = at(2026, 12, 3, 1, 18)  # the free-cancellation line: 2026-12-02 02:18:00 +01:00
    cancelled = ExportedEntry(
        seq=5,
        at=at(2026, 12, 2, 1, 18, 7),
        kind="status",
        actor="client:C-17 via crm",
        detail="Cancelled (late: after 2026-12-02T01:18:00+00:00)",
        data={"status": "LateCancelled", "previous": "Booked", "billing": "late_cancel"},
    )
    export = case((cancelled,), starts_at=start).model_copy(
        update={
            "promises": [
                LedgerRow(
                    case_id="appointment-X-1",
                    promise="cancellation_terms",
                    case_kind="appointment",
                    business_id="X-1",
                    client_id="C-17",
                    verdict="kept",
                    promised_at=at(2026, 11, 20, 9, 0),
                    due_at=at(2026, 12, 2, 1, 18),
                    met_at=at(2026, 12, 2, 1, 18, 7),
                    decided_at=at(2026, 12, 2, 1, 18, 7),
                    cause=None,
                    actor=None,
                )
            ]
        }
    )
    md = render_case(export, Format.MD)
    # The promise ledger's table, as the export's other times.
    assert "| kept | 2026-12-02 02:18:00 +01:00 | 2026-12-02 02:18:07 +01:00 |" in md
    assert "| visit | 2026-12-03 02:18:00 +01:00 |" in md
    assert "### 1. 2026-12-02 02:18:07 +01:00 · status · client:C-17 via crm" in md
    # Machine times the workflow wrote into a detail read the same way.
    assert "Cancelled \\(late: after 2026-12-02 02:18:00 +01:00\\)" in md
    html = render_case(export, Format.HTML)
    assert "<td>2026-12-02 02:18:07 +01:00</td>" in html
    assert "late: after 2026-12-02 02:18:00 +01:00" in html
    assert json.loads(render_case(export, Format.JSON))["entries"][0]["at"] == (
        "2026-12-02T02:18:07+01:00"
    )


def test_exact_times_name_the_offset_in_every_zone() -> None:
    moment = datetime(2026, 7, 1, 12, 0, 5, 999_000, tzinfo=UTC)
    assert exact(moment, "America/New_York") == "2026-07-01 08:00:05 -04:00"
    assert exact(moment, "Asia/Kolkata") == "2026-07-01 17:30:05 +05:30"
    assert exact(moment, "UTC") == "2026-07-01 12:00:05 +00:00"
    assert exact(None, "UTC") == "-"
    assert readable_text("due 2026-07-01T12:00:05Z", WARSAW, exact) == (
        "due 2026-07-01 14:00:05 +02:00"
    )


# --- messages ------------------------------------------------------------------------------


def test_an_sms_is_exported_without_the_subject_it_never_carried() -> None:
    sms, email = message("sms"), message("email", message_id=22)
    md = render_case(case((message_entry(sms),)), Format.MD)
    assert "Wizyta zarezerwowana" not in md
    assert "  > Twoja wizyta: sroda 2 grudnia, 02:48." in md
    html = render_case(case((message_entry(sms),)), Format.HTML)
    assert "Wizyta zarezerwowana" not in html and "<strong>" not in html
    exported = json.loads(render_case(case((message_entry(sms),)), Format.JSON))
    assert exported["entries"][0]["message"]["sent_subject"] is None
    # A call read out has none either; an email has its subject line above the body.
    call = message("phone", message_id=23, recipient="+48600100200")
    assert "Wizyta zarezerwowana" not in render_case(case((message_entry(call),)), Format.MD)
    email_md = render_case(case((message_entry(email),)), Format.MD)
    assert "  > **Wizyta zarezerwowana: środa, 2 grudnia 2026, 02:48**" in email_md
    assert "<strong>Wizyta zarezerwowana" in render_case(case((message_entry(email),)), Format.HTML)
    # The client's export: a subject cell only for the email.
    rows = {
        line.split(" | ")[2]: line
        for line in render_client_markdown(client_export(sms, email)).splitlines()
        if "| confirmation |" in line
    }
    assert "Wizyta zarezerwowana" not in rows["sms"]
    assert "Wizyta zarezerwowana" in rows["email"]


def test_a_delivery_receipt_shows_when_it_came_and_the_providers_message_id() -> None:
    sms = message(
        "sms",
        provider_message_id="SM0123456789abcdef0123456789abcdef",
        delivery_status="undelivered",
        delivery_error_code="30003",
        delivery_updated_at=at(2026, 12, 2, 1, 19, 44),
    )
    line = (
        "message 21 to client +48600100200 via sms (pl): sent, requested 2026-12-02 02:18:07 "
        "+01:00, sent 2026-12-02 02:19:03 +01:00, provider id SM0123456789abcdef0123456789abcdef, "
        "receipt: undelivered (30003) at 2026-12-02 02:19:44 +01:00"
    )
    md = render_case(case((message_entry(sms),)), Format.MD)
    assert f"- {line}" in md
    assert line in render_case(case((message_entry(sms),)), Format.HTML)
    exported = json.loads(render_case(case((message_entry(sms),)), Format.JSON))["entries"][0]
    assert exported["message"]["provider_message_id"] == "SM0123456789abcdef0123456789abcdef"
    assert exported["message"]["delivery_updated_at"] == "2026-12-02T02:19:44+01:00"
    client_md = render_client_markdown(client_export(sms))
    assert (
        "| 2026-12-02 02:19:03 +01:00 | SM0123456789abcdef0123456789abcdef | undelivered "
        "\\(30003\\) at 2026-12-02 02:19:44 +01:00 |"
    ) in client_md


# --- what the client wrote -------------------------------------------------------------------


def test_an_inquirys_question_is_in_its_first_entry_as_the_customer_wrote_it() -> None:
    question = "How much is physio?\nAnd do you take <b>cards</b>?"
    received = ExportedEntry(
        seq=0,
        at=at(2026, 12, 2, 9, 0, 1),
        kind="status",
        actor="client:C-17 via crm",
        detail="Inquiry received via email: Prices; answer due 2026-12-03T09:00:01+00:00",
        data={"status": "Open", "question": question},
    )
    export = case((received,), kind="inquiry")
    md = render_case(export, Format.MD)
    assert "- question:\n\n  > How much is physio?\n  > And do you take \\<b\\>cards\\</b\\>?" in md
    html = render_case(export, Format.HTML)
    assert (
        "question:\n<pre>How much is physio?\nAnd do you take &lt;b&gt;cards&lt;/b&gt;?</pre>"
        in (html)
    )
    assert json.loads(render_case(export, Format.JSON))["entries"][0]["data"]["question"] == (
        question
    )
