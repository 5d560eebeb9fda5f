"""What a client sees when a link cannot do what it offers: an expired link answers in the
client's own language, a refusal in the client's words (never the rules' staff English), and
every such page gives the office's address to write to."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from promptly.api import links as link_routes
from promptly.config import Settings
from promptly.domain.appointments.models import AppointmentStatus
from tests.api_support import STAFF_KEY, client_links, sign
from tests.test_api_links import WARSAW, _booked, _is_page, _status

# What the workflow's refusals say to staff: none of it belongs on a client's page.
STAFF_ENGLISH = ("refused", "expected one of", "current start", "Booked")


def _in_clients_words(page: httpx.Response) -> None:
    _is_page(page)
    for words in STAFF_ENGLISH:
        assert words not in page.text, (words, page.text)


async def test_an_expired_link_answers_in_the_clients_language_with_whom_to_write_to(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    request = await _booked(api)  # a Polish client, whose phone reads English
    expired = sign(settings, request.workflow_id, "cancel", timedelta(minutes=-1))
    page = await api.get(f"/c/{expired}", headers={"accept-language": "en-GB,en;q=0.9"})
    assert page.status_code == 410
    _is_page(page)
    assert '<html lang="pl">' in page.text and "Ten link wygasł" in page.text
    contact = f'<a href="mailto:{settings.front_desk_email}">{settings.front_desk_email}</a>'
    assert "Kontakt z nami:" in page.text and contact in page.text

    # A forged link names nobody: the browser's language, and still whom to write to.
    forged = await api.get("/c/not-a-token", headers={"accept-language": "pl-PL"})
    assert forged.status_code == 400 and "Ten link jest nieprawidłowy" in forged.text
    assert contact in forged.text
    # The expired link of a case no longer kept: the browser's language.
    gone = sign(settings, "appointment-A-long-gone", "cancel", timedelta(minutes=-1))
    page = await api.get(f"/c/{gone}", headers={"accept-language": "en"})
    assert page.status_code == 410 and "This link has expired" in page.text
    assert contact in page.text
    # A page that works needs no address: it is not a dead end.
    form = await api.get(f"/c/{sign(settings, request.workflow_id, 'cancel', timedelta(days=1))}")
    assert form.status_code == 200 and "mailto:" not in form.text


async def test_choosing_the_visits_own_time_is_answered_in_the_clients_words(
    api: httpx.AsyncClient, pool: AsyncConnectionPool, settings: Settings
) -> None:
    request = await _booked(api)
    link = f"/c/{(await client_links(pool, settings, request.workflow_id))['reschedule']}"
    same = request.start.astimezone(WARSAW).strftime("%Y-%m-%dT%H:%M")
    page = await api.post(link, data={"new_start": same})
    assert page.status_code == 422, page.text
    assert "To jest obecny termin wizyty: prosimy wybrać inny." in page.text
    _in_clients_words(page)
    assert 'type="datetime-local"' in page.text  # the form again, to choose another
    view = await _status(api, request.appointment_id)
    assert view["status"] == "Booked" and datetime.fromisoformat(view["start"]) == request.start


async def test_after_the_check_in_the_visits_links_say_it_has_begun(
    api: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = datetime.now(WARSAW).replace(second=0, microsecond=0) + timedelta(hours=1)
    request = await _booked(api, start=start)
    link = {
        action: f"/c/{sign(settings, request.workflow_id, action, timedelta(days=1))}"
        for action in ("confirm", "cancel", "reschedule", "late")
    }
    assert (await api.get(link["late"])).status_code == 200  # the form, before the check-in
    checked_in = await api.post(
        f"/appointments/{request.appointment_id}/check_in", headers=STAFF_KEY
    )
    assert checked_in.status_code == 200, checked_in.text

    fields = {"late": {"minutes": "10"}, "reschedule": {"new_start": "2031-01-07T10:00"}}
    for action, url in link.items():
        for method in ("GET", "POST"):
            page = await api.request(method, url, data=fields.get(action))
            assert page.status_code == 409, (action, method, page.text)
            assert "Ta wizyta już się rozpoczęła" in page.text, (action, page.text)
            assert f"mailto:{settings.front_desk_email}" in page.text
            _in_clients_words(page)

    # The page was read before the check-in and the button pressed after: the workflow
    # refuses, and the case as it is now says why.
    real_read = link_routes._read_view
    stale_reads = [1]

    async def read_before_the_check_in(*args: Any) -> Any:
        view = await real_read(*args)
        if not stale_reads:
            return view
        stale_reads.pop()
        return view.model_copy(update={"status": AppointmentStatus.CONFIRMED})

    monkeypatch.setattr(link_routes, "_read_view", read_before_the_check_in)
    page = await api.post(link["late"], data={"minutes": "10"})
    assert page.status_code == 409 and "Ta wizyta już się rozpoczęła" in page.text
    _in_clients_words(page)
    # A refusal nothing in the case explains: one plain line in the client's words.
    stale_reads[:] = [1, 1]
    page = await api.post(link["late"], data={"minutes": "10"})
    assert page.status_code == 409 and "Nie udało się tego zrobić" in page.text
    assert "Prosimy o kontakt, a pomożemy." in page.text
    _in_clients_words(page)
    assert (await _status(api, request.appointment_id))["status"] == "CheckedIn"
