"""Renders message templates (templates/{locale}/{name}.j2) in the recipient's language.

A template's first line is the subject, the rest the body. Datetimes are shown in the
recipient's timezone and locale by the `when` filter, prices in the reader's notation by `money`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path  # noqa: TID251  # templates packaged with the code
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from promptly.domain import links
from promptly.domain.appointments.models import AppointmentPolicy
from promptly.domain.common import Channel, Locale
from promptly.domain.complaints.models import EscalationTiers
from promptly.domain.inquiries.models import InquiryPolicy
from promptly.domain.sms import to_gsm7

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    body: str


# What a message asked for before its case passed these keys reads (one sent during a deploy):
# the standard terms, and a visit that did not move, or not late.
EARLIER_CONTEXT: dict[str, object] = {
    **AppointmentPolicy().message_terms(),
    **InquiryPolicy().message_terms(),
    **EscalationTiers().message_terms(),
    "rescheduled": False,
    "late_reschedule_charged": False,
    "changes_free": False,
    # Written before a read-out said what holds at the moment of the call: the standing rule.
    "late_now": False,
    "charged_from": "",
    "escalated_in_office_hours": False,
    "fee_for_moving": False,
}


def sentence(text: str) -> str:
    """Free text (a closing reason) ended as a sentence, so the next one does not run on."""
    text = text.rstrip()
    return text if not text or text[-1] in ".!?…" else text + "."


@cache
def _environment(locale: Locale, timezone: str, name_zone: bool = False) -> Environment:
    # Imported here: the workflows, the API and the CLI import this module through the
    # messaging activity, and only the sending worker renders.
    from babel.dates import format_datetime, format_skeleton
    from babel.numbers import format_currency
    from babel.units import format_unit
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(TEMPLATES / locale.value),
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )
    tz = ZoneInfo(timezone)

    def when(value: datetime | str, zone: bool = False) -> str:
        """ "Monday, 26 October 2026, 09:00", and "(Eastern Daylight Time)" after it when the
        reader is away from the office or the line must name the zone."""
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        pattern = "EEEE, d MMMM y, HH:mm" + (" (zzzz)" if zone or name_zone else "")
        return format_datetime(moment, pattern, tzinfo=tz, locale=locale.value)

    def when_short(value: datetime | str) -> str:
        """Thu, Nov 5, 09:00 / czw., 5 lis, 09:00 (SMS): the month named in the reader's
        language, as 05.11 reads as May 11 to a US reader; "(New York)" after it away from
        the office."""
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        day = format_skeleton("MMMEd", moment, tzinfo=tz, locale=locale.value)
        pattern = "HH:mm" + (" (VVV)" if name_zone else "")
        return f"{day}, {format_datetime(moment, pattern, tzinfo=tz, locale=locale.value)}"

    def duration(seconds: float, narrow: bool = False) -> str:
        """`86400` → "24 hours" / "24 godziny" ("24h" / "24 h" narrow, for SMS): the largest
        whole unit (hours, minutes, else seconds)."""
        whole = round(seconds)
        length: Literal["narrow", "long"] = "narrow" if narrow else "long"
        for unit, size in (("hour", 3600), ("minute", 60)):
            if whole >= size and whole % size == 0:
                return format_unit(whole // size, f"duration-{unit}", length, locale=locale.value)
        return format_unit(whole, "duration-second", length, locale=locale.value)

    def money(value: str) -> str:
        """ "120.50 PLN", as the case's context carries a price (the workflows' histories hold
        it so), in the reader's notation: "120,50 zł" in Polish. The space before the currency
        is a no-break space, so a wrapped line does not leave "zł" alone. Text that is not an
        amount and a currency code is shown as it is: the message still goes out."""
        amount, _, currency = value.partition(" ")
        if len(currency) != 3 or not currency.isalpha():
            return value
        try:
            return format_currency(Decimal(amount), currency, locale=locale.value)
        except InvalidOperation:
            return value

    env.filters["when"] = when
    env.filters["when_short"] = when_short
    env.filters["duration"] = duration
    env.filters["money"] = money
    env.filters["relinked"] = links.relink
    env.filters["sentence"] = sentence
    # The reader's zone, for a time whose zone the text must name.
    env.globals["reader_timezone"] = timezone
    return env


def when_short(
    moment: datetime, locale: Locale, timezone: str, office_timezone: str | None = None
) -> str:
    """A time as the texts show it (`czw., 5 lis, 09:00`; the zone named away from the
    office), for a text written without a template."""
    env = _environment(locale, timezone, office_timezone not in (None, timezone))
    return str(env.filters["when_short"](moment))


def sms_template_names(locale: Locale) -> set[str]:
    """The templates with a text-message version (templates/{locale}/sms/)."""
    return {path.stem for path in (TEMPLATES / locale.value / "sms").glob("*.j2")}


def template_names() -> set[str]:
    return {path.stem for path in (TEMPLATES / Locale.EN.value).glob("*.j2")}


def render(
    template: str,
    locale: Locale,
    timezone: str,
    context: dict[str, Any],
    channel: Channel | None = None,
    *,
    office_timezone: str | None = None,
) -> RenderedMessage:
    """The message in the recipient's language; by SMS its short version (templates/*/sms/),
    or the subject alone when a template has none, in GSM-7 letters (two segments at most).

    Times are in the recipient's `timezone`. A reader in another zone than `office_timezone`
    (a client abroad) gets every time with its zone named: "04:00" beside a Warsaw address
    would read as Warsaw time.

    By phone (`by_phone` in the context) the desk reads the text to the client, who answers
    there and then: "tell us now", never "reply to this message"."""
    context = EARLIER_CONTEXT | context | {"by_phone": channel is Channel.PHONE}
    env = _environment(locale, timezone, office_timezone not in (None, timezone))
    if channel is Channel.SMS:
        return _render_sms(env, template, locale, context)
    text = env.get_template(f"{template}.j2").render(**context)
    subject, _, body = text.partition("\n")
    return RenderedMessage(subject=subject.strip(), body=body.strip() + "\n")


def _render_sms(
    env: Environment, template: str, locale: Locale, context: dict[str, Any]
) -> RenderedMessage:
    if template in sms_template_names(locale):
        text = env.get_template(f"sms/{template}.j2").render(**context)
        subject, _, body = text.partition("\n")
    else:
        subject = env.get_template(f"{template}.j2").render(**context).partition("\n")[0]
        body = subject
    # One line of plain GSM-7 text: Polish diacritics would force UCS-2 (70 a segment).
    return RenderedMessage(subject=subject.strip(), body=to_gsm7(" ".join(body.split())))
