"""Calendars over HTTP: each provider's subscribable feed and each client's `.ics`.

`GET /calendars/providers/{provider_id}.ics?token=…`: the provider's upcoming live
appointments. The token is the credential (calendar apps send no headers of their own); it is
signed per provider and revoked with `promptly calendar revoke`. Calendar apps poll: the answer
carries `ETag` and `Last-Modified`, and a matching `If-None-Match` (or, without one, an
`If-Modified-Since` not older than the last change) gets 304 with no body.

`GET /c/{token}/calendar.ics`: the appointment of a signed client link (offered on the page
behind any link of the visit), as it stands now: same UID and SEQUENCE as the invitations. The
link names the visit as it was when signed (start and moves), like every link of the visit:
once the visit moves it answers 409 "out of date" and shows nothing of the visit. It is a
download, not a subscription: the provider's feed above is the one calendar apps poll.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from psycopg_pool import AsyncConnectionPool

from promptly.api.links import LINK_CASES, over_limit, visit_of
from promptly.config import Settings
from promptly.domain import invitations, keys, links
from promptly.domain.calendar_event import CALENDAR_LINK_ACTION
from promptly.domain.text_patterns import BUSINESS_ID
from promptly.services.calendar_feeds import case_event, provider_feed, token_accepted
from promptly.services.case_views import read_case_view
from promptly.services.errors import ErrorBody, ServiceError, header, temporal_errors

router = APIRouter(tags=["calendars"])

ICS = "text/calendar; charset=utf-8"
# Revalidate on every poll (cheap: 304), so a cancellation leaves calendars at the next poll;
# the token in the URL must not leak through a Referer.
_HEADERS = {"Cache-Control": "private, no-cache", "Referrer-Policy": "no-referrer"}
_REFUSED = "this calendar link is not valid (wrong or revoked token): ask for a new one"
_OUT_OF_DATE = (
    "this link is out of date: your visit has changed since, use the link in your latest message"
)
# What a poll sends back as If-None-Match / If-Modified-Since.
_VALIDATORS = {
    "ETag": header("The feed's version", required=True),
    "Last-Modified": header("The feed's last change (absent while it has no appointments)"),
}


@router.get(
    "/calendars/providers/{provider_id}.ics",
    response_class=Response,
    responses={
        200: {
            "content": {"text/calendar": {"schema": {"type": "string"}}},
            "description": "The provider's calendar (iCalendar)",
            "headers": _VALIDATORS,
        },
        304: {
            "description": "Unchanged since the ETag / date the client has",
            "headers": _VALIDATORS,
        },
        403: {"model": ErrorBody, "description": "Wrong or revoked token"},
        422: {"model": ErrorBody, "description": "No token, or a malformed provider id"},
    },
)
async def provider_calendar(
    request: Request,
    provider_id: Annotated[str, Path(pattern=BUSINESS_ID.regex)],
    token: Annotated[str, Query(min_length=1, max_length=128)],
) -> Response:
    """A provider's upcoming appointments: tentative until the client confirms, confirmed
    after; cancelled and past ones are left out. Client shown by first name and reference."""
    settings: Settings = request.app.state.settings
    pool: AsyncConnectionPool = request.app.state.pool
    keyring = settings.keyring(keys.CALENDAR_FEEDS)  # the previous secret's, while in grace
    now = datetime.now(UTC)
    async with pool.connection() as conn:
        if not await token_accepted(conn, provider_id, token, keyring, now):
            raise ServiceError(403, _REFUSED, headers=_HEADERS)
        feed = await provider_feed(
            conn,
            provider_id,
            now,
            timezone=settings.office_timezone,
            uid_domain=settings.calendar_domain,
        )
    headers = {**_HEADERS, "ETag": feed.etag}
    if feed.last_modified is not None:
        headers["Last-Modified"] = format_datetime(feed.last_modified.astimezone(UTC), usegmt=True)
    if _unchanged(request, feed.etag, feed.last_modified):
        return Response(status_code=304, headers=headers)
    return Response(feed.render(), media_type=ICS, headers=headers)


def _unchanged(request: Request, etag: str, last_modified: datetime | None) -> bool:
    """RFC 9110 §13.1: If-None-Match decides when present, else If-Modified-Since."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag in tags
    since = request.headers.get("if-modified-since")
    if since is None or last_modified is None:
        return False
    try:
        return last_modified.replace(microsecond=0) <= parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False


@router.get(
    "/c/{token}/calendar.ics",
    response_class=Response,
    include_in_schema=False,
)
async def client_calendar(request: Request, token: str) -> Response:
    if (wait := over_limit(request, token, act=False)) is not None:  # counted as a page
        raise ServiceError(
            429, "too many requests: try again later", headers={"Retry-After": str(wait)}
        )
    settings: Settings = request.app.state.settings
    keyring = settings.keyring(keys.LINKS)
    try:
        claims = links.verify(keyring, token, datetime.now(UTC))
    except links.ExpiredLink as err:  # authentic but too old
        raise ServiceError(
            410, "this link has expired: use the one in your latest message"
        ) from err
    except links.InvalidLink as err:
        raise ServiceError(400, "this link is not valid") from err
    if claims.action != CALENDAR_LINK_ACTION:
        raise ServiceError(400, "this link is not a calendar link")
    pool: AsyncConnectionPool = request.app.state.pool
    async with pool.connection() as conn:
        found = await case_event(conn, claims.case_id)
    if found is None:
        raise ServiceError(404, "no such appointment")
    with temporal_errors("no such appointment"):
        read = await read_case_view(
            request.app.state.client,
            pool,
            LINK_CASES["appointment-"].viewed,
            claims.case_id,
            settings.status_reads,
        )
    if claims.superseded_by(*visit_of(read.view)):  # as every link of the visit
        raise ServiceError(409, _OUT_OF_DATE, headers=_HEADERS)
    event, changed_at = found
    body = invitations.invitation(
        event,
        method=invitations.Method.PUBLISH,
        uid_domain=settings.calendar_domain,
        stamp=changed_at,
    )
    return Response(
        body,
        media_type=ICS,
        headers={**_HEADERS, "Content-Disposition": 'attachment; filename="appointment.ics"'},
    )
