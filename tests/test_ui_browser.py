"""The Temporal UI in a real headless browser: the workflow list filtered by
`AppointmentStatus="Unconfirmed"` shows the unconfirmed case and not the others, and the
case's page (the UI has no codec key) shows no client email or name; once a compliance
officer opens a codec session (`/codec/login`) and sets the UI to send it, the same page
shows the client's data decrypted.

Needs Chromium (tests/browser.py). With `PROMPTLY_SCREENSHOTS_DIR` set, the screenshots
are kept there (docs/img for docs/ops.md).
"""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from playwright.async_api import async_playwright
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError

from promptly.api.app import create_app
from promptly.config import ApiRole, Settings
from promptly.domain.appointments.models import AppointmentStatus
from promptly.services.appointments import book
from promptly.worker import create_worker
from promptly.workflows.appointment import AppointmentWorkflow
from tests.api_support import KEYS, with_api_keys
from tests.browser import HEADLESS_FLAGS, chromium, free_port, keep_screenshot, served
from tests.conftest import start_dev_server
from tests.helpers import appointment


async def input_ciphertext(handle: WorkflowHandle[Any, Any]) -> str:
    """The case's input as the server stores it (encrypted), as the UI prints it: base64."""
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    return base64.b64encode(started.input.payloads[0].data).decode()


async def listed(client: Client, query: str, workflow_id: str) -> None:
    """Wait until the visibility store answers `query` with the workflow (it lags a little)."""
    for _ in range(300):
        if workflow_id in [execution.id async for execution in client.list_workflows(query)]:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{workflow_id} not listed by {query} within 30s")


async def test_ui_list_filtered_by_unconfirmed_shows_the_case(
    database_url: str, pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    # Rules × 0.001 with the response deadline 47h (169s) before the visit and one call:
    # a visit 172s ahead is Unconfirmed about 4s after booking, until its start.
    # The payload codec is on: the UI, which has no key, shows ciphertext only.
    settings = Settings.model_validate(
        {
            "database_url": database_url,
            "task_queue": f"ui-{uuid.uuid4().hex[:6]}",
            "time_scale": 0.001,
            "response_deadline_before": timedelta(hours=47),
            "call_attempts": 1,
            "call_interval": timedelta(minutes=10),
            "codec_keys": {"2026-11": base64.b64encode(os.urandom(32)).decode()},
            "codec_key_id": "2026-11",
        }
    )
    ui_port = free_port()
    async with (
        await start_dev_server(settings=settings, ui_port=ui_port) as dev,
        create_worker(dev.client, settings, pool=pool),
        async_playwright() as playwright,
    ):
        now = datetime.now(ZoneInfo("Europe/Warsaw"))
        silent = await book(dev.client, appointment(now + timedelta(seconds=172)), settings, now)
        booked = await book(dev.client, appointment(now + timedelta(days=5)), settings, now)
        browser = await playwright.chromium.launch(  # starts while the case becomes Unconfirmed
            executable_path=chromium(), args=list(HEADLESS_FLAGS)
        )
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        status = None
        for _ in range(120):
            try:
                status = (await silent.query(AppointmentWorkflow.status)).status
            except WorkflowQueryFailedError:
                status = None  # still booking
            if status is AppointmentStatus.UNCONFIRMED:
                break
            await asyncio.sleep(0.25)
        assert status is AppointmentStatus.UNCONFIRMED
        query = 'AppointmentStatus="Unconfirmed"'
        await listed(dev.client, query, silent.id)

        base = f"http://localhost:{ui_port}/namespaces/default/workflows"
        await page.goto(base + "?query=" + quote(query))
        await page.get_by_text(silent.id).first.wait_for(timeout=60_000)  # the list has loaded
        dom = await page.content()
        assert silent.id in dom
        assert booked.id not in dom
        await page.screenshot(path=tmp_path / "ui-unconfirmed.png")

        for handle in (silent, booked):
            await handle.terminate("test over")  # a closed case's page stops long-polling
        run_id = (await silent.describe()).run_id
        ciphertext = await input_ciphertext(silent)
        await page.goto(f"{base}/{silent.id}/{run_id}/history")
        # The case's input is on the page, as the ciphertext the server holds.
        await page.get_by_text(ciphertext[:64]).first.wait_for(timeout=60_000)
        case_page = await page.content()
        assert ciphertext in case_page
        assert silent.id in case_page and "AppointmentWorkflow" in case_page
        assert "anna@example.com" not in case_page and "Anna Nowak" not in case_page
        await page.screenshot(path=tmp_path / "ui-case.png")
        await browser.close()
    for name in ("ui-unconfirmed.png", "ui-case.png"):
        assert (tmp_path / name).stat().st_size > 20_000, name  # a page, not a blank
        keep_screenshot(tmp_path / name)


async def test_ui_shows_decrypted_payloads_after_a_codec_session(
    database_url: str, pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    ui_port, api_port = free_port(), free_port()
    api = f"http://localhost:{api_port}"
    settings = with_api_keys(
        Settings.model_validate(
            {
                "database_url": database_url,
                "task_queue": f"ui-codec-{uuid.uuid4().hex[:6]}",
                "codec_keys": {"2026-11": base64.b64encode(os.urandom(32)).decode()},
                "codec_key_id": "2026-11",
                "codec_ui_origin": f"http://localhost:{ui_port}",
            }
        )
    )
    async with (
        await start_dev_server(
            "--ui-codec-endpoint", f"{api}/codec", settings=settings, ui_port=ui_port
        ) as dev,
        create_worker(dev.client, settings, pool=pool),
        served(create_app(settings, client=dev.client, pool=pool), api_port),
        async_playwright() as playwright,
    ):
        now = datetime.now(ZoneInfo("Europe/Warsaw"))
        handle = await book(dev.client, appointment(now + timedelta(days=5)), settings, now)
        for _ in range(60):  # booked: the first workflow task is done
            try:
                await handle.query(AppointmentWorkflow.status)
                break
            except WorkflowQueryFailedError:
                await asyncio.sleep(0.25)
        await handle.terminate("test over")  # a closed case's page settles
        run_id = (await handle.describe()).run_id
        history = (
            f"http://localhost:{ui_port}/namespaces/default/workflows/{handle.id}/{run_id}/history"
        )
        browser = await playwright.chromium.launch(
            executable_path=chromium(), args=list(HEADLESS_FLAGS)
        )
        page = await browser.new_page(viewport={"width": 1400, "height": 900})

        ciphertext = await input_ciphertext(handle)
        await page.goto(history)
        await page.get_by_text(ciphertext[:64]).first.wait_for(timeout=60_000)
        assert "anna@example.com" not in await page.content()  # no session: ciphertext

        await page.goto(f"{api}/codec/login")
        await page.locator("#key").fill(KEYS[ApiRole.COMPLIANCE][1])
        await page.get_by_role("button", name="Open the session").click()
        await page.get_by_text("Codec session open").wait_for()
        # The UI's codec settings, as its dialog saves them in this browser.
        await page.goto(f"http://localhost:{ui_port}/namespaces/default/workflows")
        await page.evaluate(
            """endpoint => {
                localStorage.setItem("endpoint", JSON.stringify(endpoint));
                localStorage.setItem("includeCredentials", "true");
                localStorage.setItem("overrideRemoteCodecConfiguration", "true");
            }""",
            f"{api}/codec",
        )
        await page.goto(history)
        await page.get_by_text("anna@example.com").first.wait_for(timeout=30_000)
        shot = tmp_path / "ui-case-decrypted.png"
        await page.screenshot(path=shot)
        keep_screenshot(shot)
        await browser.close()
