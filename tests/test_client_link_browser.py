"""Client links in a real headless browser (Debian Chromium driven by Playwright): the
client opens the link from the confirmation email, presses the button and sees the answer
page; the case changes as the page says. The pages have no JavaScript: what the browser
sends is a plain form post.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from playwright.async_api import Browser, async_playwright
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from promptly.api.app import create_app
from promptly.config import Settings
from promptly.domain.appointments.models import AppointmentStatus, AppointmentView
from promptly.services.appointments import book
from promptly.worker import create_worker
from promptly.workflows.appointment import AppointmentWorkflow
from tests.api_support import client_links
from tests.browser import HEADLESS_FLAGS, chromium, free_port, keep_screenshot, served
from tests.helpers import appointment

WARSAW = ZoneInfo("Europe/Warsaw")
LONG_URL = "https://portal.example.com/wyniki/pacjent/C-17/skierowanie-na-badania-2026.pdf"
LONG_EMAIL = "rejestracja.fizjoterapia.centrum@przychodnia-przykladowa.example.pl"


@asynccontextmanager
async def _site(
    client: Client, settings: Settings, pool: AsyncConnectionPool
) -> AsyncIterator[tuple[str, Browser]]:
    """The API on a real port beside a worker, and a headless Chromium to visit it."""
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(create_worker(client, settings, pool=pool))
        site = await stack.enter_async_context(
            served(create_app(settings, client=client, pool=pool), free_port())
        )
        playwright = await stack.enter_async_context(async_playwright())
        browser = await playwright.chromium.launch(
            executable_path=chromium(), args=list(HEADLESS_FLAGS)
        )
        stack.push_async_callback(browser.close)
        yield site, browser


async def _status(client: Client, workflow_id: str) -> AppointmentView:
    handle = client.get_workflow_handle(workflow_id, result_type=AppointmentView)
    return await handle.query(AppointmentWorkflow.status)


async def test_client_confirms_from_the_email_link_in_a_browser(
    dev_env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    request = appointment(datetime.now(WARSAW).replace(microsecond=0) + timedelta(days=6))
    # What an office pastes into the notes: a long link and address, no space to break at.
    request.instructions = f"Wyniki badań: {LONG_URL}, pytania: {LONG_EMAIL}"
    async with _site(dev_env.client, settings, pool) as (site, browser):
        await book(dev_env.client, request, settings, datetime.now(WARSAW))
        token = (await client_links(pool, settings, request.workflow_id))["confirm"]
        phone = await browser.new_page(locale="pl-PL", viewport={"width": 360, "height": 740})
        await phone.goto(f"{site}/c/{token}")
        assert LONG_URL in " ".join(await phone.locator("dd").all_inner_texts())
        # On a 360px phone the visit's details wrap: nothing runs off the side of the page.
        widths = await phone.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], widths
        await phone.close()
        page = await browser.new_page(locale="pl-PL")
        opened = await page.goto(f"{site}/c/{token}")
        assert opened is not None and opened.status == 200
        assert await page.locator("h1").inner_text() == "Potwierdzenie wizyty"
        assert (await _status(dev_env.client, request.workflow_id)).status is (
            AppointmentStatus.BOOKED
        )

        await page.get_by_role("button", name="Tak, przyjdę").click()
        await page.wait_for_load_state()
        assert "wizyta jest potwierdzona" in await page.locator("h1").inner_text()
        await page.screenshot(path=tmp_path / "client-link-confirmed.png")
        keep_screenshot(tmp_path / "client-link-confirmed.png")

        view = await _status(dev_env.client, request.workflow_id)
        assert view.status is AppointmentStatus.CONFIRMED
        confirmed = [e for e in view.timeline if e.data.get("status") == "Confirmed"]
        assert confirmed[-1].actor.kind.value == "client"

        await page.reload()  # the link again: already confirmed, still a page
        assert "już potwierdzona" in await page.locator("h1").inner_text()
        await dev_env.client.get_workflow_handle(request.workflow_id).terminate("test over")


async def test_client_picks_a_new_time_with_the_browsers_date_field(
    dev_env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> None:
    start = datetime.now(WARSAW).replace(hour=10, minute=0, second=0, microsecond=0)
    request = appointment(start + timedelta(days=6), locale="en")
    async with _site(dev_env.client, settings, pool) as (site, browser):
        await book(dev_env.client, request, settings, datetime.now(WARSAW))
        token = (await client_links(pool, settings, request.workflow_id))["reschedule"]
        page = await browser.new_page()
        await page.goto(f"{site}/c/{token}")
        new_start = start + timedelta(days=8, hours=4)  # 14:00 Warsaw time
        await page.locator('input[type="datetime-local"]').fill(
            new_start.strftime("%Y-%m-%dT%H:%M")
        )
        await page.get_by_role("button", name="Change the time").click()
        await page.wait_for_load_state()
        assert await page.locator("h1").inner_text() == "Your appointment has a new time"

        view = await _status(dev_env.client, request.workflow_id)
        assert view.start == new_start
        assert view.start.astimezone(WARSAW).hour == 14
        await dev_env.client.get_workflow_handle(request.workflow_id).terminate("test over")
