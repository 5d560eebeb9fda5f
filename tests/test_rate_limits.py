"""Rate limits as a client and a caller meet them: a client link takes a handful of actions per
window, then answers a calm 429 page in the reader's language with `Retry-After`; an address
that guessed API keys gets 429 `rate_limited` for its unknown keys until its lockout ends, while
a known key still passes. The limits' clock is moved by the test, never waited for."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool
from starlette.testclient import TestClient
from temporalio.testing import WorkflowEnvironment

from promptly.api.app import create_app
from promptly.api.limits import Window
from promptly.config import Settings
from promptly.worker import create_worker
from tests.api_support import STAFF_KEY, client_links, with_api_keys
from tests.test_api_links import _booked, _is_page, _status

CLIENT = "203.0.113.7"
NEIGHBOUR = "198.51.100.20"


class Clock:
    """Monotonic seconds the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def _serving(
    env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> AsyncIterator[tuple[FastAPI, Clock]]:
    """The app and a worker on the dev server, its limits on a clock the test moves."""
    app = create_app(with_api_keys(settings), client=env.client, pool=pool)
    clock = Clock()
    app.state.limits.clock = clock
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(create_worker(env.client, settings, pool=pool))
        await stack.enter_async_context(app.router.lifespan_context(app))
        yield app, clock


def _from(app: FastAPI, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 50_000)),
        base_url="http://promptly.test",
    )


async def test_a_late_link_takes_five_answers_in_ten_minutes_then_a_calm_429_page(
    dev_env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> None:
    async with _serving(dev_env, settings, pool) as (app, clock), _from(app, CLIENT) as http:
        soon = (datetime.now(UTC) + timedelta(minutes=90)).replace(second=0, microsecond=0)
        request = await _booked(http, locale="en", start=soon)
        link = f"/c/{(await client_links(pool, settings, request.workflow_id))['late']}"

        answers = [await http.post(link, data={"minutes": str(n)}) for n in (5, 10, 15, 20, 25)]
        assert [page.status_code for page in answers] == [200] * 5, answers[-1].text
        assert "we know you are running late" in answers[-1].text

        refused = await http.post(link, data={"minutes": "30"})
        assert refused.status_code == 429
        _is_page(refused)
        assert 0 < int(refused.headers["retry-after"]) <= 600
        assert "Too many attempts for now" in refused.text
        assert "Nothing was changed this time. Please try again in 10 min" in refused.text
        assert f"mailto:{settings.front_desk_email}" in refused.text
        view = await _status(http, request.appointment_id)
        late = [e for e in view["timeline"] if e["detail"].startswith("Client running")]
        assert len(late) == 5  # the sixth changed nothing
        # Reading the page has its own, looser limit.
        assert (await http.get(link)).status_code == 200

        clock.now += 601  # the window has passed
        again = await http.post(link, data={"minutes": "30"})
        assert again.status_code == 200, again.text
        assert "we know you are running late" in again.text


def _offline(clock: Clock, **limits: int) -> FastAPI:
    """The app without Temporal: link refusals (a forged token: 400) come before it."""
    app = create_app(Settings(link_secret=secrets.token_urlsafe(48), **limits))  # type: ignore[arg-type]
    app.state.limits.clock = clock
    return app


def test_one_address_takes_a_limited_number_of_link_actions_across_links() -> None:
    clock = Clock()
    app = _offline(clock, link_actions_per_address=3)
    client = TestClient(app, client=(CLIENT, 50_000))
    neighbour = TestClient(app, client=(NEIGHBOUR, 50_000))
    pl = {"accept-language": "pl-PL"}

    # Under the limit: what the links say (forged: "not valid"), one link each.
    for n in range(3):
        assert client.post(f"/c/forged-{n}", headers=pl).status_code == 400
    refused = client.post("/c/forged-4", headers=pl)
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("text/html")
    assert 0 < int(refused.headers["retry-after"]) <= 600
    assert "Zbyt wiele prób w krótkim czasie" in refused.text
    assert "Prosimy spróbować ponownie za 10 min" in refused.text
    # Another address is not affected; nor are pages.
    assert neighbour.post("/c/forged-5", headers=pl).status_code == 400
    assert client.get("/c/forged-6", headers=pl).status_code == 400

    clock.now += 601
    assert client.post("/c/forged-7", headers=pl).status_code == 400


def test_pages_and_calendar_files_have_a_looser_limit_per_address() -> None:
    clock = Clock()
    client = TestClient(_offline(clock, link_pages_per_address=2), client=(CLIENT, 50_000))
    assert client.get("/c/forged-1").status_code == 400
    assert client.get("/c/forged-2/calendar.ics").status_code == 400
    page = client.get("/c/forged-3")
    assert page.status_code == 429 and "Too many attempts for now" in page.text
    assert 0 < int(page.headers["retry-after"]) <= 600
    ics = client.get("/c/forged-4/calendar.ics")
    assert ics.status_code == 429 and ics.json()["code"] == "rate_limited"
    assert "retry-after" in ics.headers
    clock.now += 600
    assert client.get("/c/forged-5").status_code == 400


def test_an_ipv6_client_counts_by_its_64() -> None:
    clock = Clock()
    app = _offline(clock, link_actions_per_address=1)
    one = TestClient(app, client=("2001:db8:1:2::10", 50_000))
    same_network = TestClient(app, client=("2001:db8:1:2:ffff::1", 50_000))
    other_network = TestClient(app, client=("2001:db8:1:3::10", 50_000))
    assert one.post("/c/forged-1").status_code == 400
    assert same_network.post("/c/forged-2").status_code == 429
    assert other_network.post("/c/forged-3").status_code == 400


async def test_guessed_api_keys_lock_the_address_out_but_the_right_key_still_passes(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = settings.model_copy(update={"api_key_failures": 3})
    async with (
        _serving(dev_env, settings, pool) as (app, clock),
        _from(app, CLIENT) as http,
        _from(app, NEIGHBOUR) as neighbour,
    ):
        assert (await http.get("/tasks", headers=STAFF_KEY)).status_code == 200
        caplog.set_level(logging.WARNING, logger="promptly.api.limits")
        guesses = [
            await http.get("/tasks", headers={"X-API-Key": f"guess-{n}-secret"}) for n in range(3)
        ]
        assert [r.status_code for r in guesses] == [401] * 3

        locked = await http.get("/tasks", headers={"X-API-Key": "guess-4-secret"})
        assert locked.status_code == 429
        assert locked.json()["code"] == "rate_limited"
        assert 890 < int(locked.headers["retry-after"]) <= 900  # api_key_lockout: 15 min
        # The back office behind the same address (a NAT, an untrusted proxy) keeps working.
        assert (await http.get("/tasks", headers=STAFF_KEY)).status_code == 200
        # Another address is not affected.
        assert (await neighbour.get("/tasks", headers={"X-API-Key": "guess-5"})).status_code == 401

        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and CLIENT in warnings[0], warnings
        assert "secret" not in warnings[0] and "guess" not in warnings[0]

        clock.now += 600
        assert (await http.get("/tasks", headers={"X-API-Key": "guess-6"})).status_code == 429
        assert (await http.get("/tasks", headers=STAFF_KEY)).status_code == 200
        clock.now += 301  # the lockout has passed
        assert (await http.get("/tasks", headers={"X-API-Key": "guess-7"})).status_code == 401


def test_many_addresses_keep_the_limiter_bounded_and_fast() -> None:
    """An IPv6 /48 holds 65,536 /64s: each one counts, but the limiter keeps at most its cap of
    addresses (the quietest forgotten first) and a request costs the same at the cap."""
    clock = Clock()
    app = _offline(clock, link_pages_per_address=300)
    pages = app.state.limits.link_pages_from
    for n in range(4_000):  # more /64s than 1,000,000 timestamps / 300 per address
        assert pages.take(f"2001:db8:1:{n:x}::/64") is None
    assert len(pages) <= 1_000_000 // 300

    actions = Window(1, 600, clock, max_keys=1_000)
    for n in range(1_000):
        actions.take(f"198.51.{n // 256}.{n % 256}")
    started = time.perf_counter()
    for n in range(2_000):  # each a new key beyond the cap: the old code rebuilt the dict
        actions.take(f"2001:db8:2:{n:x}::/64")
    assert time.perf_counter() - started < 0.5
    assert len(actions) == 1_000
    # The address that hit the limit last is remembered; the quietest were forgotten.
    assert actions.take("2001:db8:2:7cf::/64") is not None
    assert actions.take("198.51.0.0") is None
