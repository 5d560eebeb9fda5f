"""A client who tells us they will be late is not a no-show within the grace: the "I'm running
late" button of the client link page reports it (`report_delay` as the client)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from psycopg_pool import AsyncConnectionPool

from promptly.config import Settings
from tests.api_support import client_links
from tests.helpers import timeline_rows
from tests.test_api_links import _booked, _is_page, _status


async def test_running_late_button_moves_the_no_show_moment_as_the_client(
    api: httpx.AsyncClient, pool: AsyncConnectionPool, settings: Settings
) -> None:
    # In 90 minutes: a delay is reported on the visit's day.
    soon = (datetime.now(UTC) + timedelta(minutes=90)).replace(second=0, microsecond=0)
    request = await _booked(api, start=soon)
    tokens = await client_links(pool, settings, request.workflow_id)
    link = f"/c/{tokens['late']}"

    form = await api.get(link)
    assert form.status_code == 200, form.text
    _is_page(form)
    assert "Spóźnią się Państwo?" in form.text and 'name="minutes"' in form.text
    assert "Spóźnię się" in form.text  # the button
    before = await _status(api, request.appointment_id)
    assert datetime.fromisoformat(before["no_show_at"]) == request.start + timedelta(minutes=15)

    bad = await api.post(link, data={"minutes": "soon"})
    assert bad.status_code == 422 and "Prosimy podać liczbę minut" in bad.text
    too_long = await api.post(link, data={"minutes": "100000"})  # a number, but past the limit
    assert too_long.status_code == 422 and "od 1 do 480" in too_long.text

    done = await api.post(link, data={"minutes": "10"})
    assert done.status_code == 200, done.text
    _is_page(done)
    assert "wiemy już o Państwa spóźnieniu" in done.text and "Opłaty się nie zmieniają" in done.text
    view = await _status(api, request.appointment_id)
    assert datetime.fromisoformat(view["no_show_at"]) == request.start + timedelta(minutes=25)
    late = view["timeline"][-1]
    assert late["actor"] == {"kind": "client", "id": "C-17"}
    assert late["detail"].startswith("Client running 10 min late")
    assert view["status"] == "Booked" and view["billing"] is None  # no fee rule changed


async def test_the_same_late_report_sent_again_from_the_link_is_recorded_once(
    api: httpx.AsyncClient, pool: AsyncConnectionPool, settings: Settings
) -> None:
    """A second click, a reload that posts the form again: the client sees the same page, and
    the append-only timeline keeps one entry. Other minutes are another report."""
    soon = (datetime.now(UTC) + timedelta(minutes=90)).replace(second=0, microsecond=0)
    request = await _booked(api, locale="en", start=soon)  # a delay is news of the visit's day
    tokens = await client_links(pool, settings, request.workflow_id)
    link = f"/c/{tokens['late']}"

    pages = [await api.post(link, data={"minutes": "10"}) for _ in range(4)]
    assert [page.status_code for page in pages] == [200] * 4, pages[-1].text
    assert len({page.text for page in pages}) == 1
    assert "we know you are running late" in pages[0].text

    more = await api.post(link, data={"minutes": "5"})
    assert more.status_code == 200, more.text
    view = await _status(api, request.appointment_id)
    late = [e["detail"] for e in view["timeline"] if e["detail"].startswith("Client running")]
    assert [detail.split(" late")[0] for detail in late] == [
        "Client running 10 min",
        "Client running 5 min",
    ]
    stored = [
        row
        for row in await timeline_rows(pool, request.workflow_id)
        if str(row["detail"]).startswith("Client running")
    ]
    assert len(stored) == 2
