"""Client links: the page behind each link in a client's message, and what its button does.

Pages are plain HTML forms in the client's language; problems are clear pages with a 4xx
status, never a trace.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from icalendar import Calendar
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from promptly.api.appointment_links import visit_options
from promptly.api.link_actions import Opened
from promptly.api.pages import status_label
from promptly.config import Settings
from promptly.domain.appointments.models import (
    AppointmentRequest,
    AppointmentStatus,
    AppointmentView,
)
from promptly.domain.common import Locale
from promptly.domain.complaints.models import ComplaintStatus
from promptly.domain.surveys.models import SurveyRequest, SurveyStatus
from promptly.workflows.survey import SurveyWorkflow
from tests.api_support import (
    BACKOFFICE_KEY,
    STAFF_KEY,
    client_links,
    eventually,
    page_options,
    sign,
)
from tests.helpers import appointment
from tests.test_polish_templates import INFORMAL

WARSAW = ZoneInfo("Europe/Warsaw")


def _start(days: int = 10, hour: int = 10) -> datetime:
    day = datetime.now(WARSAW).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, tzinfo=WARSAW)


async def _booked(
    api: httpx.AsyncClient, locale: str = "pl", start: datetime | None = None
) -> AppointmentRequest:
    request = appointment(start or _start(), locale=locale)
    response = await api.post(
        "/appointments", json=request.model_dump(mode="json"), headers=BACKOFFICE_KEY
    )
    assert response.status_code == 201, response.text
    return request


async def _status(api: httpx.AsyncClient, appointment_id: str) -> dict[str, Any]:
    response = await eventually(
        api, f"/appointments/{appointment_id}", lambda r: r.status_code == 200, STAFF_KEY
    )
    view: dict[str, Any] = response.json()
    return view


def _is_page(response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("text/html")
    assert "<script" not in response.text
    assert "Traceback" not in response.text and "Error:" not in response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["content-security-policy"]


async def test_booking_then_confirm_via_the_client_link(
    api: httpx.AsyncClient, pool: AsyncConnectionPool, settings: Settings
) -> None:
    request = await _booked(api)
    tokens = await client_links(pool, settings, request.workflow_id)
    assert set(tokens) == {"confirm", "cancel", "reschedule", "late"}
    link = f"/c/{tokens['confirm']}"

    page = await api.get(link)
    assert page.status_code == 200
    _is_page(page)
    assert '<html lang="pl">' in page.text
    assert "Potwierdzenie wizyty" in page.text and "Anna Nowak" in page.text
    assert "że przyjdą Państwo na wizytę" in page.text
    # What the browser receives, with every other action offered: nowhere "ty".
    assert len(page_options(page)) == 4 and not INFORMAL.findall(page.text), page.text
    assert "Physiotherapy consultation" in page.text and "ul. Prosta 1" in page.text
    assert re.search(r'<form method="post" action="/c/[^"]+">', page.text)
    assert "Tak, przyjdę" in page.text
    assert (await _status(api, request.appointment_id))["status"] == "Booked"  # GET changes nothing

    done = await api.post(link)
    assert done.status_code == 200, done.text
    _is_page(done)
    assert "wizyta jest potwierdzona" in done.text and not INFORMAL.findall(done.text)

    view = await _status(api, request.appointment_id)
    assert view["status"] == "Confirmed"
    confirmed = [e for e in view["timeline"] if e["data"].get("status") == "Confirmed"]
    assert confirmed[-1]["actor"] == {"kind": "client", "id": "C-17"}

    again = await api.get(link)
    assert again.status_code == 200 and "już potwierdzona" in again.text
    assert (await api.post(link)).status_code == 200  # a second click is harmless


async def test_one_link_reaches_every_action_of_the_visit_and_its_calendar(
    api: httpx.AsyncClient, pool: AsyncConnectionPool, settings: Settings
) -> None:
    """A text message has room for one link: its page shows the whole visit and offers the
    client's other actions, signed for the visit as it stands."""
    request = await _booked(api, locale="en")
    tokens = await client_links(pool, settings, request.workflow_id)
    page = await api.get(f"/c/{tokens['confirm']}")
    assert page.status_code == 200
    assert "Please note" in page.text and "Bring previous test results" in page.text
    first = page_options(page)
    assert list(first) == [
        "Choose another time",
        "Cancel the appointment",
        "Running late on the day? Tell us",
        "Add it to your calendar",
    ]

    ics = await api.get(first["Add it to your calendar"])
    assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
    assert f"UID:{request.workflow_id}@" in ics.text

    form = await api.get(first["Choose another time"])
    assert form.status_code == 200 and 'type="datetime-local"' in form.text
    assert "Cancel the appointment" in page_options(form)  # rather cancel than move
    new_start = _start(days=12, hour=15)
    moved = await api.post(
        first["Choose another time"], data={"new_start": new_start.strftime("%Y-%m-%dT%H:%M")}
    )
    assert moved.status_code == 200, moved.text
    assert "15:00" in moved.text and "10:00" not in moved.text  # the details show the new time
    after = page_options(moved)
    assert "Confirm that you will come" in after  # booked again at the new time

    # The options of the earlier page were for the earlier time: spent, as the links were.
    stale = await api.get(first["Cancel the appointment"])
    assert stale.status_code == 409 and "This link is out of date" in stale.text
    stale_ics = await api.get(first["Add it to your calendar"])
    assert stale_ics.status_code == 409 and "BEGIN:VCALENDAR" not in stale_ics.text
    ics = await api.get(after["Add it to your calendar"])
    assert ics.status_code == 200, ics.text
    assert Calendar.from_ical(ics.content).walk("VEVENT")[0].decoded("DTSTART") == new_start

    done = await api.post(after["Cancel the appointment"], data={"reason": "moved away"})
    assert done.status_code == 200 and "Your appointment is cancelled" in done.text
    assert page_options(done) == {}
    view = await _status(api, request.appointment_id)
    assert view["status"] == "Cancelled" and datetime.fromisoformat(view["start"]) == new_start


def test_a_visit_offers_its_other_actions_only_while_it_is_ahead() -> None:
    request = appointment(_start())
    now = datetime.now(UTC)
    fields: dict[str, Any] = {
        "appointment_id": request.appointment_id,
        "start": request.start,
        "booked_at": now,
        "confirmation_deadline": now,
        "provider_ack_deadline": now,
        "reminder_at": None,
        "response_deadline": now,
        "next_call_at": None,
        "confirmation_sent": True,
        "reminder_sent": False,
        "provider_acknowledged": False,
        "call_attempts": 0,
        "max_call_attempts": 3,
        "needs_attention": [],
        "timeline": [],
    }
    opened = Opened(
        url="/c/token",
        case_id=request.workflow_id,
        person=request.client,
        original=request,
        view=None,
        locale=Locale.EN,
        link_to=lambda action, view: f"/c/{action}",
        terms={"late": "24"},
    )

    def offered(status: AppointmentStatus, shown: str = "") -> list[str]:
        view = AppointmentView.model_validate(fields | {"status": status})
        return [href for _, href in visit_options(opened, view, shown)]

    everything = ["/c/confirm", "/c/reschedule", "/c/cancel", "/c/late", "/c/calendar/calendar.ics"]
    assert offered(AppointmentStatus.BOOKED) == everything
    assert offered(AppointmentStatus.CONFIRMED) == everything[1:]  # nothing left to confirm
    assert offered(AppointmentStatus.BOOKED, shown="cancel") == [
        link for link in everything if link != "/c/cancel"
    ]
    for over in (AppointmentStatus.CHECKED_IN, AppointmentStatus.CANCELLED):
        assert offered(over) == []  # nothing left for the client to change
    assert offered(AppointmentStatus.BOOKED, shown="acknowledge") == []  # the provider's page


async def test_english_client_gets_english_pages(
    api: httpx.AsyncClient, pool: AsyncConnectionPool, settings: Settings
) -> None:
    request = await _booked(api, locale="en")
    tokens = await client_links(pool, settings, request.workflow_id)
    page = await api.get(f"/c/{tokens['confirm']}")
    assert '<html lang="en">' in page.text and "Confirm your appointment" in page.text
    assert "Yes, I will come" in page.text


async def test_cancel_link_cancels_and_then_every_link_says_it_is_final(
    api: httpx.AsyncClient, pool: AsyncConnectionPool, settings: Settings
) -> None:
    request = await _booked(api)
    tokens = await client_links(pool, settings, request.workflow_id)
    form = await api.get(f"/c/{tokens['cancel']}")
    assert form.status_code == 200 and 'name="reason"' in form.text

    # A NUL in the reason (no browser sends one) is dropped: PostgreSQL could not store it.
    done = await api.post(f"/c/{tokens['cancel']}", data={"reason": "wyjazd\x00"})
    assert done.status_code == 200, done.text
    assert "Wizyta została odwołana" in done.text and "Nie pobieramy opłaty" in done.text
    view = await _status(api, request.appointment_id)
    assert view["status"] == "Cancelled"
    cancelled = [e for e in view["timeline"] if e["data"].get("status") == "Cancelled"]
    assert cancelled[-1]["actor"] == {"kind": "client", "id": "C-17"}
    assert "wyjazd" in cancelled[-1]["detail"]

    for action in ("confirm", "cancel", "reschedule"):
        for method in ("GET", "POST"):
            final = await api.request(method, f"/c/{tokens[action]}")
            assert final.status_code == 409, (action, method, final.text)
            _is_page(final)
            assert "Tego nie można już zmienić" in final.text and "odwołana" in final.text


async def test_links_work_for_a_start_booked_with_a_fraction_of_a_second(
    api: httpx.AsyncClient, pool: AsyncConnectionPool, settings: Settings
) -> None:
    # A token names the start in whole seconds; the visit has not moved, so the link is live.
    request = await _booked(api, start=_start() + timedelta(seconds=0.25))
    tokens = await client_links(pool, settings, request.workflow_id)
    form = await api.get(f"/c/{tokens['cancel']}")
    assert form.status_code == 200, form.text
    done = await api.post(f"/c/{tokens['cancel']}", data={"reason": "wyjazd"})
    assert done.status_code == 200, done.text
    assert (await _status(api, request.appointment_id))["status"] == "Cancelled"


async def test_reschedule_link_takes_a_local_time(
    api: httpx.AsyncClient, pool: AsyncConnectionPool, settings: Settings
) -> None:
    request = await _booked(api)
    tokens = await client_links(pool, settings, request.workflow_id)
    link = f"/c/{tokens['reschedule']}"
    form = await api.get(link)
    assert form.status_code == 200
    assert 'type="datetime-local"' in form.text and "(Europe/Warsaw)" in form.text

    bad = await api.post(link, data={"new_start": "soon"})
    # The example is a time the form takes, a week after the visit's, where the client lives.
    example = (request.start + timedelta(days=7)).astimezone(ZoneInfo("Europe/Warsaw"))
    assert bad.status_code == 422
    assert f"Prosimy podać datę i godzinę, na przykład {example:%Y-%m-%d %H:%M}." in bad.text
    past = await api.post(link, data={"new_start": "2020-01-01T10:00"})
    assert past.status_code == 422 and "Ten termin już minął" in past.text
    _is_page(past)
    far = await api.post(link, data={"new_start": "2090-01-01T10:00"})
    assert far.status_code == 422 and "za kilka lat" in far.text
    # 02:30 on the last Sunday of March does not exist in Warsaw: the clocks go 02:00 → 03:00.
    march_end = date(datetime.now(UTC).year + 1, 3, 31)
    spring_forward = march_end - timedelta(days=(march_end.weekday() + 1) % 7)
    gap = await api.post(link, data={"new_start": f"{spring_forward.isoformat()}T02:30"})
    assert gap.status_code == 422 and "Tej godziny tego dnia nie ma" in gap.text

    new_start = _start(days=14, hour=16)
    local = new_start.strftime("%Y-%m-%dT%H:%M")
    moved = await api.post(link, data={"new_start": local})
    assert moved.status_code == 200, moved.text
    assert "Termin wizyty został zmieniony" in moved.text and "16:00" in moved.text
    view = await _status(api, request.appointment_id)
    assert datetime.fromisoformat(view["start"]) == new_start
    # The reschedule is the client's; send outcomes noted after it (beside the plan) are not.
    moves = [e for e in view["timeline"] if e["data"].get("previous_start")]
    assert [e["actor"] for e in moves] == [{"kind": "client", "id": "C-17"}]


async def test_tampered_expired_wrong_action_and_other_case_links_are_refused(
    api: httpx.AsyncClient, pool: AsyncConnectionPool, settings: Settings
) -> None:
    request = await _booked(api, locale="en")
    other = await _booked(api, locale="en")
    tokens = await client_links(pool, settings, request.workflow_id)
    payload, _, signature = tokens["confirm"].partition(".")
    other_payload = sign(settings, other.workflow_id, "confirm", timedelta(days=1)).split(".")[0]
    cases = {
        "tampered signature": (
            f"{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}",
            400,
            "This link is not valid",
        ),
        "payload of another case": (f"{other_payload}.{signature}", 400, "not valid"),
        "garbage": ("not-a-token", 400, "not valid"),
        "expired": (
            sign(settings, request.workflow_id, "confirm", timedelta(minutes=-1)),
            410,
            "This link has expired",
        ),
        "wrong action": (
            sign(settings, request.workflow_id, "complete", timedelta(days=1)),
            400,
            "cannot be used here",
        ),
        "unknown case": (
            sign(settings, "appointment-A-nobody", "confirm", timedelta(days=1)),
            404,
            "could not find",
        ),
        "not a case kind": (
            sign(settings, "invoice-17", "confirm", timedelta(days=1)),
            404,
            "could not find",
        ),
        "other secret": (
            sign(
                settings.model_copy(update={"link_secret": SecretStr("another-secret")}),
                request.workflow_id,
                "confirm",
                timedelta(days=1),
            ),
            400,
            "not valid",
        ),
    }
    for name, (token, status, text) in cases.items():
        for method in ("GET", "POST"):
            response = await api.request(method, f"/c/{token}")
            assert response.status_code == status, (name, method, response.text)
            _is_page(response)
            assert text in response.text, (name, response.text)

    # An expired link is still genuine: it answers in its client's language, not the browser's.
    polish = await api.get(
        f"/c/{cases['expired'][0]}", headers={"accept-language": "pl-PL,pl;q=0.9"}
    )
    assert '<html lang="en">' in polish.text and "This link has expired" in polish.text
    # A link acts on its own case only.
    assert (await api.post(f"/c/{tokens['confirm']}")).status_code == 200
    assert (await _status(api, request.appointment_id))["status"] == "Confirmed"
    assert (await _status(api, other.appointment_id))["status"] == "Booked"


async def test_survey_link_records_the_answer(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    client: Client = dev_env.client
    booked = appointment(_start(days=-1))
    survey_id = f"survey-appointment-{booked.appointment_id}"
    await client.start_workflow(
        SurveyWorkflow.run,
        SurveyRequest(
            appointment_case_id=booked.workflow_id,
            appointment_id=booked.appointment_id,
            client=booked.client,
            service=booked.service,
            visit_ended_at=datetime.now(UTC) - timedelta(hours=1),
            send_after=timedelta(seconds=1),
        ),
        id=survey_id,
        task_queue=settings.task_queue,
    )
    link = f"/c/{sign(settings, survey_id, 'survey', timedelta(days=7))}"
    form = await api.get(link)
    assert form.status_code == 200, form.text
    assert "Jak oceniają Państwo wizytę?" in form.text, form.text
    assert "polecą nas Państwo znajomym" in form.text and not INFORMAL.findall(form.text)
    assert len(re.findall(r'<button type="submit" name="nps" value="\d+">', form.text)) == 11

    bad = await api.post(link, data={"nps": "11"})
    assert bad.status_code == 422 and "od 0 do 10" in bad.text, bad.text
    done = await api.post(link, data={"nps": "9", "comment": "Bardzo dobrze"})
    assert done.status_code == 200, done.text
    assert "Dziękujemy za odpowiedź" in done.text, done.text
    view = await dev_env.client.get_workflow_handle(survey_id).query(SurveyWorkflow.status)
    assert view.answer is not None and view.answer.nps == 9, view
    assert view.answer.comment == "Bardzo dobrze"
    again = await api.get(link)
    assert again.status_code == 200 and "Mamy już Państwa odpowiedź" in again.text, again.text


async def test_links_need_no_api_key_and_never_show_a_trace(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    token = sign(settings, f"appointment-A-{uuid.uuid4().hex[:6]}", "confirm", timedelta(days=1))
    response = await api.get(f"/c/{token}")  # no X-API-Key
    assert response.status_code == 404
    _is_page(response)


def test_a_link_page_names_every_status_of_a_linked_case_in_the_clients_words() -> None:
    statuses = [*AppointmentStatus, *ComplaintStatus, *SurveyStatus]
    for locale in Locale:
        for status in statuses:
            label = status_label(locale, status.value)
            assert label != status.value and label[0].islower(), (locale, status, label)
