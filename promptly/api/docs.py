"""The API's own pages: `/` (an index), `/docs` and `/redoc` working offline, and in the dev
stack `/dev/outbox`.

Swagger UI and ReDoc are served from the files the `fastapi-offline` package installs, under
`/docs-assets/`: FastAPI's defaults load them from a CDN, which leaves `/docs` blank on a
machine without internet access.
"""

from __future__ import annotations

import html
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from psycopg_pool import AsyncConnectionPool

from promptly.domain.readable_time import readable
from promptly.domain.text_patterns import NO_NUL
from promptly.services.outbox import LINK, OutboxMessage, read_outbox

ASSETS_URL = "/docs-assets"
ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}}
pre{{white-space:pre-wrap;background:#f6f6f6;padding:.75rem;border-radius:4px}}
.meta{{color:#555;font-size:.9rem}} article{{border-top:1px solid #ddd;padding:.5rem 0}}</style>
</head><body>{body}</body></html>
"""


def page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=html.escape(title), body=body))


def _rooted(request: Request, path: str) -> str:
    """`path` as the browser asks for it: under the root path a proxy serves the API at."""
    return f"{request.scope.get('root_path', '')}{path}"


def _asset(request: Request, name: str) -> str:
    return _rooted(request, f"{ASSETS_URL}/{name}")


def add_docs_routes(app: FastAPI, *, dev_tools: bool) -> None:
    """Mount the offline docs, the index and (dev stack only) the outbox page on `app`,
    which must be built with `docs_url=None, redoc_url=None`."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    router = APIRouter(include_in_schema=False)
    openapi_url = app.openapi_url or "/openapi.json"

    @router.get("/docs")
    async def swagger_ui(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=_rooted(request, openapi_url),
            title=f"{app.title} - Swagger UI",
            swagger_js_url=_asset(request, "swagger-ui-bundle.js"),
            swagger_css_url=_asset(request, "swagger-ui.css"),
            swagger_favicon_url=_asset(request, "favicon.png"),
        )

    @router.get("/redoc")
    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=_rooted(request, openapi_url),
            title=f"{app.title} - ReDoc",
            redoc_js_url=_asset(request, "redoc.standalone.js"),
            redoc_favicon_url=_asset(request, "favicon.png"),
            with_google_fonts=False,
        )

    @router.get("/")
    async def index() -> HTMLResponse:
        links = [
            ("/docs", "API docs (Swagger UI): try every route with your X-API-Key"),
            ("/redoc", "API reference (ReDoc)"),
            (openapi_url, "OpenAPI document"),
            ("/health", "Health: Temporal and PostgreSQL reachability, schema, search attributes"),
        ]
        if dev_tools:
            links.append(("/dev/outbox", "Dev outbox: the messages clients would receive"))
        items = "".join(
            f'<li><a href="{href}">{html.escape(href)}</a>: {html.escape(text)}</li>'
            for href, text in links
        )
        return page("Promptly", f"<h1>Promptly</h1><ul>{items}</ul>")

    if dev_tools:

        @router.get("/dev/outbox")
        async def outbox(
            request: Request,
            to: str | None = Query(default=None, max_length=320, pattern=NO_NUL.regex),
            last: int = Query(default=20, ge=1, le=200),
        ) -> HTMLResponse:
            pool: AsyncConnectionPool = request.app.state.pool
            timezone: str = request.app.state.settings.office_timezone
            messages = await read_outbox(pool, to=to, last=last)
            articles = "".join(_article(message, timezone) for message in reversed(messages))
            heading = "Dev outbox" + (f" for {html.escape(to)}" if to else "")
            empty = "" if messages else "<p>No messages yet: book an appointment.</p>"
            note = (
                '<p class="meta">Messages the outbox channel kept because no provider key is '
                "set, newest first. This page exists only in the dev stack.</p>"
            )
            return page("Dev outbox", f"<h1>{heading}</h1>{note}{empty}{articles}")

    app.include_router(router)


def _article(message: OutboxMessage, timezone: str) -> str:
    meta = (
        f"#{message.id} · {html.escape(readable(message.created_at, timezone))} · "
        f"{html.escape(message.channel)} → {html.escape(message.recipient)} · "
        f"{html.escape(message.case_id)} · {html.escape(message.template)}"
    )
    return (
        f'<article><p class="meta">{meta}</p><h2>{html.escape(message.subject)}</h2>'
        f"<pre>{linked(message.body)}</pre></article>"
    )


def linked(text: str) -> str:
    """The text, HTML-escaped, with each URL a clickable link."""
    out: list[str] = []
    last = 0
    for match in LINK.finditer(text):
        out.append(html.escape(text[last : match.start()]))
        url = html.escape(match.group(0))
        out.append(f'<a href="{url}">{url}</a>')
        last = match.end()
    out.append(html.escape(text[last:]))
    return "".join(out)
