"""Request ids: every answer carries one, and error reasons that could expose internals
(Temporal's messages, protobuf errors, codec key ids) go to the log under it, never to the
caller. Support asks for the id; the log has the rest.
"""

from __future__ import annotations

import logging
import secrets

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-Id"
log = logging.getLogger("promptly.api")


class RequestId:
    """Gives each request a fresh id (`request.state.request_id`) and answers it in a header.

    The id is ours, never the caller's, so a log line cannot be spoofed into another's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.lower().encode(), rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


def request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def scope_request_id(scope: Scope) -> str | None:
    """The request's id where a middleware has only the ASGI scope (a 413, an idempotency
    refusal): every error body names it."""
    state = scope.get("state") or {}
    return state.get("request_id") if isinstance(state, dict) else None


# What a log line names for a request no route matched: its path may be anything sent.
UNMATCHED = "(no route)"


def logged_path(request: Request) -> str:
    """The request's route template (`/c/{token}`), never its path: client links and the
    inbound email URL carry their secrets in the path, and logs are read by many."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


def log_internal(request: Request, what: str, detail: object) -> None:
    """Log what went wrong inside, under the request's id."""
    log.warning(
        "%s %s: %s: %s (request %s)",
        request.method,
        logged_path(request),
        what,
        detail,
        request_id(request),
    )
