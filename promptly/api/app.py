"""The HTTP API: back-office routes (API keys), staff tasks, client links, health.

It speaks only to Temporal (start, query, update, visibility) and PostgreSQL (case reads,
staff tasks); the workflows decide everything. `create_app(settings)` builds it; the Temporal
client and the connection pool are made in the lifespan and kept on `app.state` (tests and
`make run` pass their own). OpenAPI at `/docs` and `/openapi.json`.

A case kind (appointments.py, complaints.py, inquiries.py) is a `CaseKind` of the registry
(promptly/services/case_kinds.py), whose updates become routes (case_updates.py), plus its
start, status and list routes; a new kind follows the same lines and is included here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

from promptly.api import billing as api_billing
from promptly.api import calendar as api_calendar
from promptly.api import history as api_history
from promptly.api import inbound as api_inbound
from promptly.api import inquiries as api_inquiries
from promptly.api import legal_holds as api_legal_holds
from promptly.api import links as api_links
from promptly.api import messages as api_messages
from promptly.api import promises as api_promises
from promptly.api import tasks as api_tasks
from promptly.api import webhooks as api_webhooks
from promptly.api.appointments import appointments
from promptly.api.auth import ApiKeys
from promptly.api.case_updates import check_body_names
from promptly.api.codec import codec_router
from promptly.api.complaints import complaints
from promptly.api.docs import add_docs_routes
from promptly.api.idempotency import IdempotentPosts
from promptly.api.json_body import ApiJSONResponse
from promptly.api.limits import RateLimits
from promptly.api.openapi_headers import declare_middleware_headers
from promptly.api.request_body import BodyTooLarge, read_body, replaying
from promptly.api.security import (
    RequestId,
    log_internal,
    logged_path,
    request_id,
    scope_request_id,
)
from promptly.config import Settings
from promptly.db import schema
from promptly.services import setup
from promptly.services.case_kinds import CASE_KINDS
from promptly.services.errors import (
    ErrorBody,
    ErrorCode,
    ServiceError,
    code_for_status,
    invalid_input,
    validation_problems,
    with_json_hint,
)
from promptly.services.waiting_inbound import keep_acting_on_waiting_inbound

log = logging.getLogger("promptly.api")

# --- health, errors, limits, the app --------------------------------------------------------


class Reachability(BaseModel):
    ok: bool
    detail: str


class Health(BaseModel):
    ok: bool
    temporal: Reachability
    postgres: Reachability
    schema_state: str = Field(
        alias="schema",
        description="`current`, `pending: <migration ids>` (503: run `promptly db upgrade`), "
        "`unreadable: <why>` when PostgreSQL answers but this role may not read the applied "
        "migrations (503), or `unknown` when PostgreSQL does not answer",
    )

    search_attributes: str = Field(
        description="`registered`, `missing: <names> …` when the namespace lacks search "
        "attributes the workflows set (503: every case that sets one stops; run `promptly "
        "setup`), or `unknown` when Temporal does not list them"
    )


class SearchAttributeCheck:
    """The /health `search_attributes` field, asked of Temporal once in `REGISTERED_FOR` (an
    attribute is seldom removed), while some are missing once in `MISSING_FOR` (so that
    `promptly setup` shows soon), and once in `UNKNOWN_FOR` while Temporal will not list them
    (logged once, not on every probe)."""

    REGISTERED_FOR = 300.0
    MISSING_FOR = 10.0
    UNKNOWN_FOR = 60.0

    def __init__(self) -> None:
        self._state: str | None = None
        self._until = 0.0

    async def state(self, client: Client) -> str:
        now = time.monotonic()
        if self._state is not None and now < self._until:
            return self._state
        try:
            missing = await setup.missing_search_attributes(
                client, client.namespace, timeout=timedelta(seconds=3)
            )
        except Exception:
            if self._state != "unknown":
                log.warning("health: cannot list the search attributes", exc_info=True)
            missing = None
        if missing is None:
            state, kept_for = "unknown", self.UNKNOWN_FOR
        elif missing:
            state = f"missing: {', '.join(missing)} (run `promptly setup`)"
            kept_for = self.MISSING_FOR
        else:
            state, kept_for = "registered", self.REGISTERED_FOR
        self._state, self._until = state, now + kept_for
        return state


health = APIRouter(tags=["health"])


@health.get("/health", response_model=Health, responses={503: {"model": Health}})
async def get_health(request: Request, response: Response) -> Health:
    """Whether Temporal and PostgreSQL answer, the schema has every migration of this release
    and the namespace has every search attribute the workflows set (no API key needed)."""
    client: Client = request.app.state.client
    pool: AsyncConnectionPool = request.app.state.pool
    try:
        await client.workflow_service.get_system_info(
            GetSystemInfoRequest(), timeout=timedelta(seconds=3)
        )
        temporal = Reachability(ok=True, detail="reachable")
    except Exception:
        log.warning("health: Temporal unreachable", exc_info=True)
        temporal = Reachability(ok=False, detail="unreachable")
    attributes = "unknown"
    if temporal.ok:
        checked: SearchAttributeCheck = request.app.state.search_attributes
        attributes = await checked.state(client)
    state = "unknown"
    try:
        async with pool.connection(timeout=3) as conn:
            await conn.execute("SELECT 1")
            state = await schema.schema_state(conn)
        postgres = Reachability(ok=True, detail="reachable")
    except Exception:
        log.warning("health: PostgreSQL unreachable", exc_info=True)
        postgres = Reachability(ok=False, detail="unreachable")
    missing = attributes.startswith("missing")
    ok = temporal.ok and postgres.ok and state == "current" and not missing
    if not ok:
        response.status_code = 503
    return Health(
        ok=ok,
        temporal=temporal,
        postgres=postgres,
        schema=state,
        search_attributes=attributes,
    )


class BodyLimit:
    """Refuses request bodies over `limit` bytes with 413, declared or streamed.

    A path under a prefix of `declared_up_to` may send more, up to its own limit, when it
    declares its length: the body then streams to the route unbuffered (an email with its
    attachments, which the form parser spools to disk)."""

    def __init__(
        self, app: ASGIApp, limit: int, declared_up_to: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.limit = limit
        self.declared_up_to = declared_up_to or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and not declared.isdigit():
            await self._refuse(scope, receive, send, self.limit)
            return
        if declared is not None and int(declared) > self.limit:
            larger = self._declared_limit(scope["path"])
            if int(declared) > larger:
                await self._refuse(scope, receive, send, larger)
                return
            # The server holds the body to its declared length.
            await self.app(scope, receive, send)
            return
        try:
            body = await read_body(receive, self.limit)
        except BodyTooLarge:
            await self._refuse(scope, receive, send, self.limit)
            return
        if body is None:
            return  # the client went away
        await self.app(scope, replaying(body, receive), send)

    def _declared_limit(self, path: str) -> int:
        """The most a body of `path` may declare: its prefix's limit, else the common one."""
        return next(
            (most for prefix, most in self.declared_up_to.items() if path.startswith(prefix)),
            self.limit,
        )

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        body = ErrorBody(
            reason=f"request body over {limit} bytes",
            code=ErrorCode.TOO_LARGE,
            request_id=scope_request_id(scope),
        )
        await JSONResponse(body.model_dump(), status_code=413)(scope, receive, send)


def _error(status: int, body: ErrorBody, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    def with_id(request: Request, body: ErrorBody) -> ErrorBody:
        return body.model_copy(update={"request_id": request_id(request)})

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ServiceError)
        if exc.internal is not None:
            log_internal(request, exc.reason, exc.internal)
        return _error(exc.status, with_id(request, exc.body()), exc.headers)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = with_json_hint(
            validation_problems(exc.errors()), request.headers.get("content-type")
        )
        return _error(422, with_id(request, invalid_input(problems).body()))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400:  # FastAPI could not read the body (not UTF-8, not JSON)
            log_internal(request, "unreadable body", exc.detail)
            problem = invalid_input([("body", "unreadable: not UTF-8, or JSON nested too deeply")])
            return _error(422, with_id(request, problem.body()))
        body = ErrorBody(reason=str(exc.detail), code=code_for_status(exc.status_code))
        return _error(exc.status_code, with_id(request, body), exc.headers)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error(
            "%s %s failed (request %s)",
            request.method,
            logged_path(request),
            request_id(request),
            exc_info=exc,
        )
        body = ErrorBody(
            reason="internal error; it is logged under the request id", code=ErrorCode.INTERNAL
        )
        return _error(500, with_id(request, body))

    app.add_exception_handler(ServiceError, api_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def create_app(
    settings: Settings | None = None,
    *,
    client: Client | None = None,
    pool: AsyncConnectionPool | None = None,
    dev_tools: bool = False,
) -> FastAPI:
    """The API. Without `client`/`pool` the lifespan connects from the settings.

    `dev_tools` (the dev stack only) adds the `/dev/outbox` page."""
    settings = settings or Settings()
    settings.master_secret()  # MissingSecret: the API signs links and tokens, so none without
    check_body_names(CASE_KINDS)  # two kinds' updates of the same name: name the new body

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if client is None:
                from promptly.client import make_client

                app.state.client = await make_client(settings)
            else:
                app.state.client = client
            if pool is None:
                from promptly.client import open_pool

                app.state.pool = await stack.enter_async_context(open_pool(settings))
            else:
                app.state.pool = pool
            if settings.twilio_auth_token is not None:  # SMS replies come in
                waiting = asyncio.create_task(
                    keep_acting_on_waiting_inbound(app.state.client, app.state.pool, settings)
                )
                stack.callback(waiting.cancel)
            yield

    app = FastAPI(
        title="Promptly",
        version="1",
        summary="Appointments as durable Temporal workflows: book, steer, list and follow.",
        description="Back-office routes need an API key in the `X-API-Key` header (roles "
        "backoffice, staff, compliance, admin). Errors are JSON `{reason, errors}`; bad input "
        "is 422 naming each field. Every POST takes an `Idempotency-Key` header: a repeat "
        "with the same key changes nothing and returns the first answer. Client links "
        "(`/c/{token}`) are HTML pages for clients.",
        lifespan=lifespan,
        # operationId = the route's name: book_appointment, confirm_appointment, ...
        generate_unique_id_function=lambda route: route.name,
        default_response_class=ApiJSONResponse,  # times to the second (api_json.py)
        # Served by add_docs_routes from installed files, not FastAPI's CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.api_keys = ApiKeys(settings.api_keys)
    app.state.limits = RateLimits(settings)  # client links, failed API keys (api/limits.py)
    app.state.search_attributes = SearchAttributeCheck()  # /health's, kept a while
    _install_error_handlers(app)
    app.include_router(appointments)
    app.include_router(complaints)
    app.include_router(api_inquiries.router)
    app.include_router(api_tasks.router)
    app.include_router(api_calendar.router)
    app.include_router(api_links.router)
    app.include_router(api_history.router)
    app.include_router(api_promises.router)
    app.include_router(api_billing.router)
    app.include_router(api_legal_holds.router)
    app.include_router(api_messages.router)
    app.include_router(health)
    app.include_router(api_webhooks.router)
    api_webhooks.declare_webhook_events(app)  # the events POSTed, as OpenAPI `webhooks`
    app.include_router(codec_router(settings))  # Temporal UI codec server (api_codec.py)
    # Added first, so it runs inside the body limit: oversized bodies are refused unread.
    app.add_middleware(IdempotentPosts)
    add_docs_routes(app, dev_tools=dev_tools)  # /, /docs, /redoc offline (api_docs.py)
    declare_middleware_headers(app)  # X-Request-Id, Idempotent-Replayed in /openapi.json
    app.state.inbound_limiter = api_inbound.SenderLimiter(settings.inbound_per_minute)
    app.include_router(api_inbound.router)  # client replies and SMS receipts
    app.add_middleware(
        BodyLimit,
        limit=settings.api_max_body_bytes,
        declared_up_to={api_inbound.EMAIL_PREFIX: api_inbound.EMAIL_MAX_BYTES},
    )
    app.add_middleware(RequestId)  # outermost: even a 413 carries an id
    return app
