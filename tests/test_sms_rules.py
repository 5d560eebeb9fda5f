"""SMS rules as pure functions: segment counting, every SMS template's size, what a reply
means (an email's sender checked), how Twilio's errors and receipts are read, the per-sender
limit."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from promptly.api.inbound import SenderLimiter
from promptly.domain.appointments.models import BillingOutcome
from promptly.domain.common import Channel, Locale
from promptly.domain.rendering import render, sms_template_names, template_names
from promptly.domain.sms import (
    DeliveryStatus,
    Encoding,
    ReplyIntent,
    TwilioFailure,
    first_reply_line,
    receipt_replaces,
    reply_intent,
    segments,
    to_gsm7,
    twilio_failure,
    unverified_sender,
)
from tests.message_contexts import every_line

# --- segments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "units", "count"),
    [
        ("a" * 160, Encoding.GSM7, 160, 1),
        ("a" * 161, Encoding.GSM7, 161, 2),  # 153 per part once concatenated
        ("a" * 306, Encoding.GSM7, 306, 2),
        ("a" * 307, Encoding.GSM7, 307, 3),
        ("€" * 80, Encoding.GSM7, 160, 1),  # extension-table characters cost two septets
        ("[" * 81, Encoding.GSM7, 162, 2),
        ("Zażółć" + "a" * 64, Encoding.UCS2, 70, 1),  # one Polish letter: 70 a segment
        ("ą" * 71, Encoding.UCS2, 71, 2),  # 67 per part
        ("ą" * 134, Encoding.UCS2, 134, 2),
        ("ą" * 135, Encoding.UCS2, 135, 3),
        ("👍" * 35, Encoding.UCS2, 70, 1),  # an emoji is two UTF-16 units
        ("Café à São", Encoding.UCS2, 10, 1),  # ã is not GSM-7
        ("Café à", Encoding.GSM7, 6, 1),  # é and à are
    ],
)
def test_segments_count_gsm7_and_ucs2(
    text: str, encoding: Encoding, units: int, count: int
) -> None:
    assert segments(text) == (segments(text).__class__(encoding, units, count))


def test_polish_letters_fold_to_gsm7() -> None:
    folded = to_gsm7("Zażółć gęślą jaźń – Łódź")
    assert folded == "Zazolc gesla jazn - Lodz"
    assert segments(folded).encoding is Encoding.GSM7
    assert to_gsm7("👍") == "👍"  # no plain equivalent: kept
    # Polish and French quotation marks, as a customer types them into a subject.
    quoted = to_gsm7("Pytanie o „skierowanie” i «termin»")
    assert quoted == 'Pytanie o "skierowanie" i "termin"'
    assert segments(quoted).encoding is Encoding.GSM7


# --- every SMS template fits in two segments -----------------------------------------------


# A reader in the office's zone, and one abroad whose every time names a long zone city. The
# longest texts with the longest names take a third segment abroad: a time read in the wrong
# zone costs a missed visit, a segment costs a cent.
@pytest.mark.parametrize("reader_zone", ["Europe/Warsaw", "America/Argentina/Buenos_Aires"])
@pytest.mark.parametrize("locale", list(Locale))
@pytest.mark.parametrize(
    ("template", "outcome"),
    [(name, None) for name in sorted(template_names())]
    + [("cancellation", outcome.value) for outcome in BillingOutcome],
)
def test_every_template_by_sms_fits_in_two_segments_three_abroad(
    template: str, outcome: str | None, locale: Locale, reader_zone: str
) -> None:
    context = every_line(template, locale) | ({"outcome": outcome} if outcome else {})
    rendered = render(
        template, locale, reader_zone, context, Channel.SMS, office_timezone="Europe/Warsaw"
    )
    unnamed_times = re.findall(r"\d\d:\d\d(?! \()", rendered.body)
    if reader_zone == "Europe/Warsaw":
        assert "Buenos Aires" not in rendered.body
    else:
        assert not unnamed_times, rendered.body
    count = segments(rendered.body)
    assert count.encoding is Encoding.GSM7, rendered.body
    assert count.segments <= (2 if reader_zone == "Europe/Warsaw" else 3), (count, rendered.body)
    assert "\n" not in rendered.body


@pytest.mark.parametrize(
    ("locale", "zone", "said"),
    [
        (Locale.EN, "Europe/Warsaw", "Thu, Nov 5, 09:00, "),
        (Locale.PL, "Europe/Warsaw", "czw., 5 lis, 09:00, "),
        (Locale.EN, "America/New_York", "Thu, Nov 5, 03:00 (New York), "),
        (Locale.PL, "America/New_York", "czw., 5 lis, 03:00 (Nowy Jork), "),
    ],
)
def test_a_reminder_by_sms_names_the_month_and_abroad_the_zone(
    locale: Locale, zone: str, said: str
) -> None:
    context = every_line("reminder", locale) | {"start": "2026-11-05T09:00:00+01:00"}
    rendered = render(
        "reminder", locale, zone, context, Channel.SMS, office_timezone="Europe/Warsaw"
    )
    assert said in rendered.body, rendered.body


def test_the_client_templates_have_their_own_sms_version_in_both_languages() -> None:
    wanted = {
        "confirmation",
        "reminder",
        "cancellation",
        "delay_notice",
        "no_show_notice",
        "fee_waived",
        "survey",
        "survey_reminder",
        "reschedule_link",
        "sms_opted_out",
        "sms_opted_in",
        *CUSTOMER_TEMPLATES,
    }
    assert wanted <= sms_template_names(Locale.EN)
    assert sms_template_names(Locale.EN) == sms_template_names(Locale.PL)
    assert sms_template_names(Locale.EN) <= template_names()


# What a complaining or asking customer is sent: on their channel, SMS included.
CUSTOMER_TEMPLATES = (
    "inquiry_ack",
    "inquiry_answer",
    "complaint_ack",
    "status_update",
    "resolution_proposed",
    "complaint_note",
    "complaint_closed",
    "complaint_survey",
    "hold_ended",
    "escalation",
)


@pytest.mark.parametrize("locale", list(Locale))
@pytest.mark.parametrize(
    ("template", "staff_text"),
    [
        ("inquiry_answer", "answer"),
        ("resolution_proposed", "resolution"),
        ("complaint_note", "note"),
    ],
)
def test_what_staff_wrote_reaches_an_sms_customer_whole_up_to_twilios_limit(
    template: str, staff_text: str, locale: Locale
) -> None:
    context = every_line(template, locale) | {"reference": "Q-2026-17"}
    words = " ".join(f"Line {n}: bring the referral and your ID card." for n in range(40))
    context[staff_text] = words[:1200]
    whole = render(template, locale, "Europe/Warsaw", context, Channel.SMS).body
    assert words[:1200] in whole and context["reference"] in whole

    context[staff_text] = words * 3  # longer than any SMS carries: cut, and said to be
    cut = render(template, locale, "Europe/Warsaw", context, Channel.SMS).body
    assert len(cut) <= 1600 and segments(cut).encoding is Encoding.GSM7
    assert words[:1000] in cut and "..." in cut


def test_the_sms_confirmation_says_how_to_answer() -> None:
    pl = render(
        "confirmation",
        Locale.PL,
        "Europe/Warsaw",
        every_line("confirmation", Locale.PL),
        Channel.SMS,
    ).body
    en = render(
        "confirmation",
        Locale.EN,
        "Europe/Warsaw",
        every_line("confirmation", Locale.EN),
        Channel.SMS,
    ).body
    assert "odpisz TAK" in pl and "STOP" in pl and "/c/" in pl
    assert "Reply YES" in en and "STOP" in en


# --- replies ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("TAK", ReplyIntent.CONFIRM),
        (" tak ", ReplyIntent.CONFIRM),
        ("Tak.", ReplyIntent.CONFIRM),
        ("T", ReplyIntent.CONFIRM),
        ("yes", ReplyIntent.CONFIRM),
        ("Y", ReplyIntent.CONFIRM),
        ("C", ReplyIntent.CONFIRM),
        ("ok", ReplyIntent.CONFIRM),
        ("👍", ReplyIntent.CONFIRM),
        ("Tak, będę", ReplyIntent.CONFIRM),
        ("Yes, see you then!", ReplyIntent.CONFIRM),
        ("tak ale nie mogę", ReplyIntent.OTHER),
        ("yes but not at 10", ReplyIntent.OTHER),
        ("R", ReplyIntent.RESCHEDULE),
        ("zmiana", ReplyIntent.RESCHEDULE),
        ("STOP", ReplyIntent.OPT_OUT),
        ("stop", ReplyIntent.OPT_OUT),
        ("Cancel", ReplyIntent.OPT_OUT),  # a carrier word: never an appointment cancellation
        ("END", ReplyIntent.OPT_OUT),
        ("QUIT", ReplyIntent.OPT_OUT),
        ("UNSUBSCRIBE", ReplyIntent.OPT_OUT),
        ("STOPALL", ReplyIntent.OPT_OUT),
        ("REVOKE", ReplyIntent.OPT_OUT),
        ("OPTOUT", ReplyIntent.OPT_OUT),
        ("START", ReplyIntent.OPT_IN),
        ("unstop", ReplyIntent.OPT_IN),
        ("Can I come at 11?", ReplyIntent.OTHER),
        ("", ReplyIntent.OTHER),
        ("please stop calling me at work", ReplyIntent.OTHER),
    ],
)
def test_reply_intent(text: str, intent: ReplyIntent) -> None:
    assert reply_intent(text) is intent


def test_the_first_line_above_the_quote_is_the_answer() -> None:
    assert first_reply_line("\n  Tak, będę  \n\nW dniu pon. Promptly napisał(a):\n> TAK") == (
        "Tak, będę"
    )
    assert first_reply_line("On Mon, 30 Nov 2026 Promptly wrote:\n> Reply YES") == ""
    assert first_reply_line("> quoted only") == ""
    assert first_reply_line("Yes\r\n-----Original Message-----\r\nFrom: x") == "Yes"


# --- Twilio errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "failure"),
    [
        (400, 21211, TwilioFailure.NO_SUCH_NUMBER),
        (400, 21614, TwilioFailure.INVALID_NUMBER),
        (400, 21610, TwilioFailure.OPTED_OUT),
        (401, 20003, TwilioFailure.CREDENTIALS),
        (429, 20429, TwilioFailure.TRANSIENT),
        (500, None, TwilioFailure.TRANSIENT),
        (503, None, TwilioFailure.TRANSIENT),
        (400, 21602, TwilioFailure.REJECTED),
    ],
)
def test_twilio_errors(status: int, code: int | None, failure: TwilioFailure) -> None:
    assert twilio_failure(status, code) is failure


SENT, DELIVERED, UNDELIVERED, FAILED = (
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.UNDELIVERED,
    DeliveryStatus.FAILED,
)


@pytest.mark.parametrize(
    ("recorded", "receipt", "replaces"),
    [
        # The first receipt, and each step forward.
        (None, SENT, True),
        (None, UNDELIVERED, True),
        ("sent", SENT, True),  # posted twice
        ("sent", DELIVERED, True),
        ("sent", FAILED, True),
        # A final status is never replaced by one that is not: a late `sent`.
        ("delivered", SENT, False),
        ("undelivered", SENT, False),
        ("failed", SENT, False),
        # A final one by another final one: Twilio's later word (and a repeat).
        ("undelivered", UNDELIVERED, True),
        ("undelivered", DELIVERED, True),
        ("delivered", FAILED, True),
    ],
)
def test_a_receipt_only_moves_a_message_forward(
    recorded: str | None, receipt: DeliveryStatus, replaces: bool
) -> None:
    assert receipt_replaces(recorded, receipt) is replaces


NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("recorded", "receipt", "received_at", "replaces"),
    [
        # A receipt kept until the ledger knew its SMS, recorded after the ledger's own came:
        # of the same rank, the later word stands (the ledger's, here).
        ("delivered", FAILED, NOON - timedelta(minutes=5), False),
        ("delivered", FAILED, NOON + timedelta(minutes=5), True),
        ("sent", SENT, NOON - timedelta(minutes=5), False),
        # A final one still beats one that is not, whenever it came; and never the reverse.
        ("sent", FAILED, NOON - timedelta(minutes=5), True),
        ("undelivered", SENT, NOON + timedelta(minutes=5), False),
        (None, FAILED, NOON - timedelta(minutes=5), True),
    ],
)
def test_a_kept_receipt_does_not_replace_a_later_word(
    recorded: str | None, receipt: DeliveryStatus, received_at: datetime, replaces: bool
) -> None:
    got = receipt_replaces(recorded, receipt, recorded_at=NOON, received_at=received_at)
    assert got is replaces


@pytest.mark.parametrize(
    ("spf", "dkim", "envelope", "trusted"),
    [
        (None, None, None, False),  # not through SendGrid's checks: nothing vouches for it
        (None, None, "anna@example.com", False),
        ("", "", "anna@example.com", False),
        ("pass", "none", "anna@example.com", True),
        ("pass", "none", "bounce@mail.example.com", True),  # a subdomain is aligned
        ("none", "{@example.com : pass}", None, True),
        ("softfail", "{@relay.example : pass, @example.com : pass}", None, True),
        ("fail", "none", "anna@example.com", False),  # the forgery of the audit
        ("pass", "none", "attacker@evil.example", False),  # SPF for someone else's domain
        ("none", "{@evil.example : pass}", None, False),  # signed, but by another domain
        ("neutral", "{@example.com : fail}", None, False),
    ],
)
def test_an_email_reply_counts_as_the_clients_only_when_spf_or_dkim_vouches_for_its_from(
    spf: str | None, dkim: str | None, envelope: str | None, trusted: bool
) -> None:
    said = unverified_sender("anna@example.com", spf, dkim, envelope)
    assert (said == "") is trusted, said
    if not trusted:
        assert said.startswith("sender not verified: SPF ")


@pytest.mark.parametrize("locale", list(Locale))
def test_a_closing_reason_ends_as_a_sentence_before_the_next_one(locale: Locale) -> None:
    context = every_line("complaint_closed", locale) | {"outcome": "", "reason": "refund sent"}
    text = render("complaint_closed", locale, "Europe/Warsaw", context, Channel.SMS).body
    assert "refund sent. " in text
    context["reason"] = "refund sent!"
    text = render("complaint_closed", locale, "Europe/Warsaw", context, Channel.SMS).body
    assert "refund sent! " in text and "!." not in text


# --- per-sender limit ----------------------------------------------------------------------


def test_each_sender_is_limited_per_minute() -> None:
    limiter = SenderLimiter(per_minute=3)
    assert [limiter.allow("+48600100200", now=t) for t in (0, 1, 2, 3)] == [
        True,
        True,
        True,
        False,
    ]
    assert limiter.allow("+48600100201", now=3)  # another sender is not held up
    assert limiter.allow("+48600100200", now=61)  # a minute later


def test_a_message_states_its_cases_terms_and_one_asked_for_earlier_the_standard_ones() -> None:
    earlier = {
        k: v
        for k, v in every_line("reminder", Locale.EN).items()
        if k not in ("late_change_within", "no_show_after")
    }
    standard = render("reminder", Locale.EN, "Europe/Warsaw", earlier).body
    assert "rescheduling less than 24 hours before the visit is charged" in standard
    office = earlier | {"late_change_within": 12 * 3600, "no_show_after": 600}
    assert (
        "less than 12 hours before" in render("reminder", Locale.EN, "Europe/Warsaw", office).body
    )
    sms = render("reminder", Locale.PL, "Europe/Warsaw", office, Channel.SMS).body
    assert "Zmiany <12 h platne" in sms


def test_an_inquiry_alert_states_the_waits_the_office_set() -> None:
    context = every_line("inquiry_alert", Locale.EN) | {
        "supervisor": True,
        "answer_within": 36 * 3600,
        "supervisor_after": 48 * 3600,
    }
    alert = render("inquiry_alert", Locale.EN, "Europe/Warsaw", context)
    assert alert.subject.endswith("unanswered for 48 hours")
    assert "the front desk was alerted after 36 hours" in alert.body
    polish = render("inquiry_alert", Locale.PL, "Europe/Warsaw", context).body
    assert "po upływie limitu (36 godzin)" in polish


@pytest.mark.parametrize("template", ["confirmation", "reminder", "reschedule_link"])
def test_without_a_late_change_rule_no_message_speaks_of_one(template: str) -> None:
    free = every_line(template, Locale.EN) | {"late_change_within": 0, "confirmed": False}
    for channel in (Channel.EMAIL, Channel.SMS):
        text = render(template, Locale.EN, "Europe/Warsaw", free, channel).body
        assert "0 seconds" not in text and "0s" not in text and " late cancellation" not in text
    ruled = free | {"late_change_within": 24 * 3600}
    assert "24 hours" in render(template, Locale.EN, "Europe/Warsaw", ruled).body
