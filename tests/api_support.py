"""The HTTP API under test: keys per role, the app served in-process, links from the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from promptly.api.app import create_app
from promptly.api.auth import hash_key
from promptly.config import ApiKey, ApiRole, Settings
from promptly.domain import keys, links
from promptly.domain.common import ActorKind
from promptly.worker import create_worker
from tests.helpers import messages

# role → (key name, key)
KEYS: dict[ApiRole, tuple[str, str]] = {
    ApiRole.BACKOFFICE: ("crm", "crm-key-0123456789"),
    ApiRole.STAFF: ("desk", "desk-key-0123456789"),
    ApiRole.COMPLIANCE: ("audit", "audit-key-0123456789"),
    ApiRole.ADMIN: ("root", "root-key-0123456789"),
}
TOKEN = re.compile(r"/c/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)")


def key(role: ApiRole) -> dict[str, str]:
    return {"X-API-Key": KEYS[role][1]}


STAFF_KEY = key(ApiRole.STAFF)
BACKOFFICE_KEY = key(ApiRole.BACKOFFICE)


# The CRM relays what clients tell it (a verdict on a complaint, a confirmation by phone), so
# its key may name a client as the actor; every other key acts as itself only (admin: any).
ACTS_AS: dict[ApiRole, list[ActorKind]] = {ApiRole.BACKOFFICE: [ActorKind.CLIENT]}


def with_api_keys(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "api_keys": {
                name: ApiKey(key_sha256=hash_key(secret), role=role, acts_as=ACTS_AS.get(role))
                for role, (name, secret) in KEYS.items()
            }
        }
    )


@asynccontextmanager
async def serving(
    client: Client, settings: Settings, pool: AsyncConnectionPool, *, dev_tools: bool = False
) -> AsyncIterator[httpx.AsyncClient]:
    """A worker on the settings' task queue and the app (lifespan run) behind an httpx client."""
    app = create_app(settings, client=client, pool=pool, dev_tools=dev_tools)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(create_worker(client, settings, pool=pool))
        await stack.enter_async_context(app.router.lifespan_context(app))
        http = await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://promptly.test"
            )
        )
        yield http


@asynccontextmanager
async def serving_skipped(
    env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> AsyncIterator[httpx.AsyncClient]:
    """`serving` on the time-skipping server with every role's key; the cases a test books
    (appended to `http.booked`) end with it."""
    async with serving(env.client, with_api_keys(settings), pool) as http:
        http.booked = []  # type: ignore[attr-defined]
        yield http
        # A case left running without its worker would stall time skipping for later tests:
        # let in-flight activities finish (skipping waits for them), then end the cases.
        await env.sleep(timedelta(minutes=1))
        for workflow_id in http.booked:  # type: ignore[attr-defined]
            with contextlib.suppress(RPCError):
                await env.client.get_workflow_handle(workflow_id).terminate("test over")


def sign(
    settings: Settings,
    case_id: str,
    action: str,
    expires_in: timedelta,
    for_start: datetime | None = None,
    moves: int | None = None,
) -> str:
    claims = links.LinkClaims(
        case_id=case_id,
        action=action,
        expires_at=datetime.now(UTC) + expires_in,
        for_start=for_start,
        moves=moves,
    )
    return links.sign(settings.keyring(keys.LINKS), claims)


async def client_links(
    pool: AsyncConnectionPool, settings: Settings, case_id: str, template: str = "confirmation"
) -> dict[str, str]:
    """action → token of the links in the case's first `template` message (waits for it)."""
    keyring = settings.keyring(keys.LINKS)
    for _ in range(200):
        sent = [
            m
            for m in await messages(pool, case_id)
            if m["template"] == template and m["status"] in ("sent", "queued_in_outbox")
        ]
        if sent:
            found = {}
            for token in TOKEN.findall(sent[0]["body"]):
                found[links.verify(keyring, token, datetime.now(UTC)).action] = token
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {template} message for {case_id}")


async def eventually(
    http: httpx.AsyncClient, path: str, check: Any, headers: dict[str, str], tries: int = 100
) -> httpx.Response:
    """GET `path` until `check(response)` holds (visibility and first queries lag a little)."""
    response = await http.get(path, headers=headers)
    for _ in range(tries):
        if check(response):
            return response
        await asyncio.sleep(0.1)
        response = await http.get(path, headers=headers)
    raise AssertionError(f"{path}: {response.status_code} {response.text[:500]}")


def page_options(page: httpx.Response) -> dict[str, str]:
    """A link page's "something else?" links: label → path."""
    found = re.findall(r'<li><a href="([^"]+)">([^<]+)</a>', page.text)
    return {label: href for href, label in found}
