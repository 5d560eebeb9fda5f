"""The small server-rendered pages behind client links, in English and Polish.

No JavaScript: every action is a plain form POST. Pages are never cached, never framed,
never indexed, and send no referrer (the link's token is in the URL).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, StrictUndefined

from promptly.domain.common import Locale

TEXT: dict[Locale, dict[str, str]] = {
    Locale.EN: {
        "label.service": "Service",
        "label.when": "When",
        "label.where": "Where",
        "label.with": "With",
        "label.visit": "Visit",
        "label.reference": "Reference",
        "label.note": "Please note",
        "label.prepayment": "Payment",
        "prepayment": "in advance, because a previous visit was missed",
        "options": "Something else?",
        "option.confirm": "Confirm that you will come",
        "option.cancel": "Cancel the appointment",
        "option.reschedule": "Choose another time",
        "option.late": "Running late on the day? Tell us",
        "option.calendar": "Add it to your calendar",
        "confirm.title": "Confirm your appointment",
        "confirm.intro": "Hello {name}, please confirm that you will come.",
        "confirm.button": "Yes, I will come",
        "confirm.done": "Thank you, your appointment is confirmed",
        "confirm.see_you": "See you on {when}.",
        "confirm.already": "Your appointment is already confirmed",
        "acknowledge.title": "Acknowledge a booking",
        "acknowledge.intro": "{name} booked this visit with you.",
        "acknowledge.button": "Acknowledge the booking",
        "acknowledge.done": "Thank you, the booking is acknowledged",
        "acknowledge.already": "The booking is already acknowledged",
        "late.title": "Running late?",
        "late.intro": "Hello {name}, tell us how late you will be and we will hold your visit.",
        "late.field": "Minutes late",
        "late.button": "I'm running late",
        "late.done": "Thank you, we know you are running late",
        "late.held": "We hold your visit until {when}. Fees do not change.",
        "late.bad_minutes": "Please give the minutes as a number from 1 to {most}, for example 10.",
        "cancel.title": "Cancel your appointment",
        "cancel.intro": "Hello {name}, do you want to cancel this appointment?",
        "cancel.policy": "Cancelling or rescheduling at least {late} hours before the visit is "
        "free; later, the visit counts as held and is charged.",
        "cancel.policy_free": "After our delay or cancellation, changing or cancelling this "
        "visit is free of charge.",
        "cancel.reason": "Reason (optional)",
        "cancel.button": "Cancel the appointment",
        "cancel.done": "Your appointment is cancelled",
        "cancel.free": "There is no charge.",
        "cancel.late": "The cancellation came less than {late} hours before the visit, so the "
        "visit counts as held and the fee applies.",
        "reschedule.title": "Choose a new time",
        "reschedule.intro": "Hello {name}, choose the new date and time of this appointment.",
        "reschedule.field": "New date and time ({timezone})",
        "reschedule.button": "Change the time",
        "reschedule.done": "Your appointment has a new time",
        "reschedule.new_time": "New time: {when}.",
        "reschedule.bad_time": "Please give a date and time, for example {example}.",
        "reschedule.past": "That time has passed: please choose a date and time ahead.",
        "reschedule.too_far": "That is years away: please choose a date within three years.",
        "reschedule.no_such_time": "The clocks skip that hour that day: please choose another.",
        "survey.title": "How was your visit?",
        "feedback.title": "How did we handle your complaint?",
        "survey.question": "How likely are you to recommend us to a friend? "
        "0 = not at all, 10 = extremely likely.",
        "survey.comment": "Anything you want to tell us (optional)",
        "survey.done": "Thank you for your answer",
        "survey.already": "We already have your answer, thank you",
        "survey.bad_nps": "Please choose a number from 0 to 10.",
        "problem.invalid": "This link is not valid",
        "problem.invalid.text": "Please open the link exactly as it appears in our message, "
        "or contact us.",
        "problem.expired": "This link has expired",
        "problem.expired.text": "Links in our messages work for a limited time. Please contact "
        "us and we will help.",
        "problem.wrong_action": "This link cannot be used here",
        "problem.wrong_action.text": "Please use the links in our latest message, or contact us.",
        "problem.not_found": "We could not find what this link points to",
        "problem.not_found.text": "Please contact us and we will help.",
        "problem.final": "This can no longer be changed",
        "problem.final.text": "Its status: {status}.",
        "problem.superseded": "This link is out of date",
        "problem.superseded.text": "Your visit has changed since this message: please use the "
        "links in our latest message, or contact us.",
        "problem.refused": "We could not do that",
        "problem.refused.text": "Please contact us and we will help.",
        "problem.error": "Something went wrong on our side",
        "problem.error.text": "Please try again in a few minutes.",
        "status.Booked": "booked",
        "status.Confirmed": "confirmed",
        "status.Unconfirmed": "unconfirmed",
        "status.Cancelled": "cancelled",
        "status.LateCancelled": "cancelled late",
        "status.CheckedIn": "checked in",
        "status.Completed": "completed",
        "status.NoShow": "missed",
        "status.Answered": "answered",
        "status.Closed": "closed",
        "status.Scheduled": "scheduled",
        "status.Sent": "sent",
        "status.Open": "open",
        "status.OnHold": "on hold",
        "status.ResolutionProposed": "waiting for your answer to our proposal",
        "status.ClosedUnconfirmed": "closed",
    },
    Locale.PL: {
        "label.service": "Usługa",
        "label.when": "Termin",
        "label.where": "Miejsce",
        "label.reference": "Numer sprawy",
        "label.with": "Specjalista",
        "label.visit": "Wizyta",
        "label.note": "Uwaga",
        "label.prepayment": "Płatność",
        "prepayment": "z góry, ponieważ poprzednia wizyta nie odbyła się z powodu nieobecności",
        "options": "Coś innego?",
        "option.confirm": "Potwierdzenie obecności na wizycie",
        "option.cancel": "Odwołanie wizyty",
        "option.reschedule": "Wybór innego terminu",
        "option.late": "Spóźnią się Państwo w dniu wizyty? Prosimy dać znać",
        "option.calendar": "Dodanie wizyty do kalendarza",
        "confirm.title": "Potwierdzenie wizyty",
        "confirm.intro": "Dzień dobry, {name}! Prosimy o potwierdzenie, że przyjdą Państwo "
        "na wizytę.",
        "confirm.button": "Tak, przyjdę",
        "confirm.done": "Dziękujemy, wizyta jest potwierdzona",
        "confirm.see_you": "Do zobaczenia: {when}.",
        "confirm.already": "Wizyta jest już potwierdzona",
        "acknowledge.title": "Potwierdzenie przyjęcia rezerwacji",
        "acknowledge.intro": "{name} zarezerwował(a) u Państwa tę wizytę.",
        "acknowledge.button": "Potwierdzam przyjęcie rezerwacji",
        "acknowledge.done": "Dziękujemy, przyjęcie rezerwacji zostało potwierdzone",
        "acknowledge.already": "Przyjęcie rezerwacji jest już potwierdzone",
        "late.title": "Spóźnią się Państwo?",
        "late.intro": "Dzień dobry, {name}! Prosimy podać, ile minut wyniesie spóźnienie, "
        "a zaczekamy na Państwa.",
        "late.field": "Spóźnienie w minutach",
        "late.button": "Spóźnię się",
        "late.done": "Dziękujemy, wiemy już o Państwa spóźnieniu",
        "late.held": "Czekamy na Państwa do {when}. Opłaty się nie zmieniają.",
        "late.bad_minutes": "Prosimy podać liczbę minut od 1 do {most}, na przykład 10.",
        "cancel.title": "Odwołanie wizyty",
        "cancel.intro": "Dzień dobry, {name}! Czy chcą Państwo odwołać tę wizytę?",
        "cancel.policy": "Odwołanie lub zmiana terminu co najmniej {late} godz. przed wizytą są "
        "bezpłatne; później wizyta jest traktowana jako odbyta i płatna.",
        "cancel.policy_free": "Po naszym opóźnieniu lub odwołaniu zmiana terminu i odwołanie tej "
        "wizyty są bezpłatne.",
        "cancel.reason": "Powód (opcjonalnie)",
        "cancel.button": "Odwołuję wizytę",
        "cancel.done": "Wizyta została odwołana",
        "cancel.free": "Nie pobieramy opłaty.",
        "cancel.late": "Odwołanie nastąpiło mniej niż {late} godz. przed wizytą, więc wizyta "
        "jest traktowana jako odbyta i obowiązuje opłata.",
        "reschedule.title": "Wybór nowego terminu",
        "reschedule.intro": "Dzień dobry, {name}! Prosimy wybrać nową datę i godzinę wizyty.",
        "reschedule.field": "Nowa data i godzina ({timezone})",
        "reschedule.button": "Zmieniam termin",
        "reschedule.done": "Termin wizyty został zmieniony",
        "reschedule.new_time": "Nowy termin: {when}.",
        "reschedule.bad_time": "Prosimy podać datę i godzinę, na przykład {example}.",
        "reschedule.past": "Ten termin już minął: prosimy wybrać przyszłą datę i godzinę.",
        "reschedule.too_far": "To termin za kilka lat: prosimy wybrać datę w ciągu najbliższych "
        "trzech lat.",
        "reschedule.no_such_time": "Tej godziny tego dnia nie ma (zmiana czasu): prosimy wybrać "
        "inną.",
        "survey.title": "Jak oceniają Państwo wizytę?",
        "feedback.title": "Jak oceniają Państwo obsługę reklamacji?",
        "survey.question": "Jak bardzo prawdopodobne jest, że polecą nas Państwo znajomym? "
        "0 = wcale, 10 = na pewno.",
        "survey.comment": "Uwagi, które chcą Państwo nam przekazać (opcjonalnie)",
        "survey.done": "Dziękujemy za odpowiedź",
        "survey.already": "Mamy już Państwa odpowiedź, dziękujemy",
        "survey.bad_nps": "Prosimy wybrać liczbę od 0 do 10.",
        "problem.invalid": "Ten link jest nieprawidłowy",
        "problem.invalid.text": "Prosimy otworzyć link dokładnie w takiej postaci, w jakiej jest "
        "w naszej wiadomości, albo skontaktować się z nami.",
        "problem.expired": "Ten link wygasł",
        "problem.expired.text": "Linki w naszych wiadomościach działają przez ograniczony czas. "
        "Prosimy o kontakt, a pomożemy.",
        "problem.wrong_action": "Tego linku nie można tu użyć",
        "problem.wrong_action.text": "Prosimy użyć linków z naszej najnowszej wiadomości albo "
        "skontaktować się z nami.",
        "problem.not_found": "Nie znaleźliśmy tego, do czego prowadzi ten link",
        "problem.not_found.text": "Prosimy o kontakt, a pomożemy.",
        "problem.final": "Tego nie można już zmienić",
        "problem.final.text": "Status: {status}.",
        "problem.superseded": "Ten link jest już nieaktualny",
        "problem.superseded.text": "Państwa wizyta zmieniła się od czasu tej wiadomości: prosimy "
        "użyć linków z naszej najnowszej wiadomości albo skontaktować się z nami.",
        "problem.refused": "Nie udało się tego zrobić",
        "problem.refused.text": "Prosimy o kontakt, a pomożemy.",
        "problem.error": "Coś poszło nie tak po naszej stronie",
        "problem.error.text": "Prosimy spróbować ponownie za kilka minut.",
        "status.Booked": "zarezerwowana",
        "status.Confirmed": "potwierdzona",
        "status.Unconfirmed": "niepotwierdzona",
        "status.Cancelled": "odwołana",
        "status.LateCancelled": "odwołana zbyt późno",
        "status.CheckedIn": "w trakcie",
        "status.Completed": "zakończona",
        "status.NoShow": "nieodbyta (nieobecność)",
        "status.Answered": "udzielono odpowiedzi",
        "status.Closed": "zamknięta",
        "status.Scheduled": "zaplanowana",
        "status.Sent": "wysłana",
        "status.Open": "w toku",
        "status.OnHold": "wstrzymana",
        "status.ResolutionProposed": "czeka na Państwa odpowiedź na naszą propozycję",
        "status.ClosedUnconfirmed": "zamknięta",
    },
}

_TEMPLATE = """<!doctype html>
<html lang="{{ locale }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{{ page.title }} · Promptly</title>
<style>
body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;
line-height:1.5;color:#222}
main{border:1px solid #ccc;border-radius:8px;padding:1rem 1.25rem}
main.problem{border-color:#d88}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}
dt{color:#555}dd{margin:0}
label{display:block;margin:.75rem 0 .25rem}
textarea,input{font:inherit;width:100%;box-sizing:border-box;padding:.4rem}
button{font:inherit;font-size:1.1rem;margin-top:1rem;padding:.6rem 1.2rem;border:0;
border-radius:6px;background:#176;color:#fff;cursor:pointer}
.scale{display:flex;flex-wrap:wrap;gap:.3rem}.scale button{min-width:2.8rem;padding:.5rem}
.error{color:#a11;font-weight:bold}.note{color:#555;font-size:.9rem}
</style>
</head>
<body>
<main{% if page.problem %} class="problem"{% endif %}>
<h1>{{ page.title }}</h1>
{% for line in page.lines %}<p>{{ line }}</p>
{% endfor %}
{% if page.details %}<dl>
{% for label, value in page.details %}<dt>{{ label }}</dt><dd>{{ value }}</dd>
{% endfor %}</dl>{% endif %}
{% if page.form %}<form method="post" action="{{ page.form.action }}">
{% if page.form.error %}<p class="error">{{ page.form.error }}</p>{% endif %}
{% if page.form.kind == "cancel" %}<label for="reason">{{ t["cancel.reason"] }}</label>
<textarea id="reason" name="reason" rows="3" maxlength="2000"></textarea>
{% elif page.form.kind == "reschedule" %}<label for="new_start">{{ page.form.label }}</label>
<input id="new_start" name="new_start" type="datetime-local" required
 value="{{ page.form.value }}">
{% elif page.form.kind == "late" %}<label for="minutes">{{ page.form.label }}</label>
<input id="minutes" name="minutes" type="number" min="1" max="480" required
 value="{{ page.form.value }}">
{% elif page.form.kind == "api_key" %}<label for="key">{{ page.form.label }}</label>
<input id="key" name="key" type="password" required autocomplete="off">
{% elif page.form.kind == "survey" %}<p>{{ t["survey.question"] }}</p>
<label for="comment">{{ t["survey.comment"] }}</label>
<textarea id="comment" name="comment" rows="3" maxlength="4000"></textarea>
<div class="scale">{% for n in range(11) %}
<button type="submit" name="nps" value="{{ n }}">{{ n }}</button>{% endfor %}
</div>
{% endif %}
{% if page.form.button %}<button type="submit">{{ page.form.button }}</button>{% endif %}
</form>{% endif %}
{% if page.note %}<p class="note">{{ page.note }}</p>{% endif %}
{% if page.options %}<nav><p>{{ t["options"] }}</p><ul>
{% for label, href in page.options %}<li><a href="{{ href }}">{{ label }}</a></li>
{% endfor %}</ul></nav>{% endif %}
</main>
</body>
</html>
"""

_environment = Environment(autoescape=True, undefined=StrictUndefined)
_page_template = _environment.from_string(_TEMPLATE)

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True)
class Form:
    kind: str  # confirm | cancel | reschedule | late | survey | api_key | logout
    action: str
    button: str = ""
    label: str = ""
    value: str = ""
    error: str = ""


@dataclass(frozen=True)
class Page:
    title: str
    status_code: int = 200
    lines: list[str] = field(default_factory=list)
    details: list[tuple[str, str]] = field(default_factory=list)
    form: Form | None = None
    note: str = ""
    problem: bool = False
    # Links to the case's other actions, (label, URL): one message link reaches them all.
    options: list[tuple[str, str]] = field(default_factory=list)


def text(locale: Locale, key: str, **values: Any) -> str:
    return TEXT[locale][key].format(**values)


def when(moment: datetime, timezone: str, locale: Locale) -> str:
    return format_datetime(
        moment, "EEEE, d MMMM y, HH:mm", tzinfo=ZoneInfo(timezone), locale=locale.value
    )


def status_label(locale: Locale, status: str) -> str:
    return TEXT[locale].get(f"status.{status}", status)


def problem(locale: Locale, kind: str, status_code: int, *extra: str, **values: Any) -> Page:
    """A page saying why a link cannot be used: never a trace, always what to do next."""
    return Page(
        title=text(locale, f"problem.{kind}"),
        status_code=status_code,
        lines=[*extra, text(locale, f"problem.{kind}.text", **values)],
        problem=True,
    )


def render(page: Page, locale: Locale) -> HTMLResponse:
    html = _page_template.render(page=page, locale=locale.value, t=TEXT[locale])
    return HTMLResponse(html, status_code=page.status_code, headers=SECURITY_HEADERS)


def locale_from(accept_language: str | None) -> Locale:
    """The reader's language before we know whose link it is (Accept-Language)."""
    first = (accept_language or "").split(",")[0].strip().lower()
    return Locale.PL if first.startswith("pl") else Locale.EN


async def form_fields(request: Request) -> dict[str, str]:
    """The fields of one of our pages' url-encoded forms (first value of each)."""
    try:
        parsed = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=20)
    except ValueError:  # more fields than any of our forms has: not from our page
        return {}
    # Nobody types a NUL into a page; PostgreSQL could not store one.
    return {name: values[0].replace("\x00", "") for name, values in parsed.items()}
