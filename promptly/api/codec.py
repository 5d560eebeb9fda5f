"""The codec server: lets the Temporal UI show decrypted payloads to authorised staff.

Temporal's remote codec protocol: `POST /codec/decode` and `POST /codec/encode` take and
return `{"payloads": [{"metadata": {"encoding": "<base64>"}, "data": "<base64>"}]}` (the
protobuf JSON form of `Payloads`). Point the UI at it with `--ui-codec-endpoint
http://localhost:8000/codec` (dev server) or the UI's codec server setting.

Only the compliance and admin roles may call it, and only admin may encode: the compliance
role reads and changes nothing, and an encoded payload is input a strict-mode worker accepts
(an update or signal sent from the UI). The caller's API key goes in `X-API-Key` or as
`Authorization: Bearer <key>` (scripts, a UI with its own SSO passing its access token), or
with the session cookie `GET /codec/login` gives a person who types such a key into its
form. The cookie serves the Temporal UI's "include cross-origin credentials" codec setting,
which is how a UI without a login of its own (the dev server's) reaches an authorised
codec. Every answered call is logged at INFO, as a history read is: who, decoded or encoded,
how many payloads, which namespace (never what they hold). The session is signed, lasts
`CODEC_SESSION` and ends early when its key is removed or loses the role. CORS admits the
Temporal UI's origin alone (`PROMPTLY_CODEC_UI_ORIGIN`); a browser on any other page gets no
CORS grant, so it cannot read the answer. Without codec keys configured there are no codec
routes (404).

`codec_router(settings)` is included by the API app (`promptly/api/app.py`), which
provides `app.state.api_keys` and `app.state.limits` (an address that presented too many
unknown keys is refused with 429, here as on every route: `auth.identify`).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from promptly.api import pages as api_pages
from promptly.api.auth import ADMIN, API_KEY_HEADER, ApiKeys, Caller, identify
from promptly.api.security import log_internal, request_id
from promptly.codec import CodecKeyError
from promptly.config import ApiRole, Settings
from promptly.domain import links
from promptly.domain.common import Locale
from promptly.domain.keys import CODEC_SESSIONS, Keyring
from promptly.services.errors import ServiceError

CODEC_ROLES = frozenset({ApiRole.COMPLIANCE, ApiRole.ADMIN})
ALLOWED_HEADERS = f"content-type, x-namespace, authorization, {API_KEY_HEADER.lower()}"
SESSION_COOKIE = "promptly_codec"
SESSION_ACTION = "codec-session"
CODEC_SESSION = timedelta(hours=8)  # one working day, then sign in again

log = logging.getLogger("promptly.api.codec")

Transform = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]

_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"payloads": {"type": "array", "items": {"type": "object"}}},
                    "example": {
                        "payloads": [
                            {
                                "metadata": {
                                    "encoding": "YmluYXJ5L2VuY3J5cHRlZA==",
                                    "encryption-key-id": "MjAyNi0xMQ==",
                                },
                                "data": "<base64>",
                            }
                        ]
                    },
                }
            }
        },
    }
}


class CodecSessions:
    """Signed session cookies naming an API key; a session is as good as its key is now.

    Signed with the codec-session key (derived for this purpose alone, so a client link can
    never pass for a session). The claims hold a fingerprint of the API key the session was
    opened with: rotating or removing that key ends the session."""

    def __init__(self, keyring: Keyring, keys: ApiKeys) -> None:
        self._keyring = keyring
        self._keys = keys

    def open(self, caller: Caller, now: datetime) -> str:
        claims = links.LinkClaims(
            case_id=caller.name,
            action=f"{SESSION_ACTION}:{self._keys.fingerprint(caller.name)}",
            expires_at=now + CODEC_SESSION,
        )
        return links.sign(self._keyring, claims)

    def caller(self, token: str, now: datetime) -> Caller | None:
        try:
            claims = links.verify(self._keyring, token, now)
        except links.InvalidLink:
            return None
        action, _, fingerprint = claims.action.partition(":")
        if action != SESSION_ACTION:
            return None
        current = self._keys.fingerprint(claims.case_id)
        if current is None or not hmac.compare_digest(fingerprint.encode(), current.encode()):
            return None
        return self._keys.named(claims.case_id)


def _login_page(
    endpoint: str,
    *,
    error: str = "",
    status_code: int = 200,
    session: tuple[str, datetime] | None = None,
) -> HTMLResponse:
    """The sign-in form, or (with `session`: key name, end) how to use the open session."""
    if session is not None:
        name, until = session
        page = api_pages.Page(
            title="Codec session open",
            lines=[
                f"Signed in as {name} until {until:%Y-%m-%d %H:%M} UTC.",
                "In the Temporal UI, open the codec server settings (the glasses icon at the top "
                "right), choose “Use my browser setting and ignore Cluster-level setting”, enter "
                f"{endpoint} as the endpoint, turn on “Include cross-origin credentials” and "
                "Apply: histories then show decrypted payloads.",
            ],
            form=api_pages.Form(kind="logout", action="/codec/logout", button="Sign out"),
        )
    else:
        page = api_pages.Page(
            title="Read decrypted payloads in the Temporal UI",
            status_code=status_code,
            lines=[
                "Client data in Temporal is encrypted. A compliance or admin API key opens "
                f"a codec session of {CODEC_SESSION.seconds // 3600} hours in this browser.",
            ],
            form=api_pages.Form(
                kind="api_key",
                action="/codec/login",
                button="Open the session",
                label="API key (compliance or admin)",
                error=error,
            ),
            problem=bool(error),
        )
    return api_pages.render(page, Locale.EN)


CROSS_SITE = "This form can only be sent from this site's own page."


def _same_origin(request: Request, settings: Settings) -> bool:
    """CSRF: a login or logout form posted from another site is refused. Browsers send
    `Origin` (and `Sec-Fetch-Site`) with form posts; a request with neither is not a
    browser's cross-site post."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:  # every current browser sends it, whatever the referrer policy
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True
    # Our pages send no referrer, so a browser without Sec-Fetch-Site says `Origin: null`
    # even for our own form: an opaque origin proves nothing, refuse it.
    ours = {
        f"{request.url.scheme}://{request.url.netloc}",
        settings.public_base_url.rstrip("/"),
    }
    return origin in ours


def _endpoint(request: Request) -> str:
    """This codec server's URL, as the Temporal UI is to be told it."""
    return str(request.url_for("codec_decode")).removesuffix("/decode")


def codec_router(settings: Settings) -> APIRouter:
    codec = settings.payload_codec()
    origin = settings.codec_ui_origin.rstrip("/")
    router = APIRouter(prefix="/codec", tags=["codec"])
    if codec is None:
        return router  # payloads are not encrypted: nothing to serve
    sessions_keyring = settings.keyring(CODEC_SESSIONS)

    def sessions(request: Request) -> CodecSessions:
        return CodecSessions(sessions_keyring, request.app.state.api_keys)

    def cors(request: Request) -> dict[str, str]:
        headers = {"Vary": "Origin"}
        if request.headers.get("origin") == origin:
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Allow-Credentials"] = "true"
        return headers

    def refuse(
        request: Request, status: int, reason: str, extra: dict[str, str] | None = None
    ) -> JSONResponse:
        headers = cors(request) | (extra or {})
        if status == 401:
            headers["WWW-Authenticate"] = API_KEY_HEADER
        body: dict[str, object] = {"reason": reason, "errors": []}
        body["request_id"] = request_id(request)
        return JSONResponse(body, status_code=status, headers=headers)

    def presented_key(request: Request) -> str | None:
        key = request.headers.get(API_KEY_HEADER)
        if key:
            return key
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    async def apply(request: Request, action: Literal["encode", "decode"]) -> Response:
        key = presented_key(request)
        session = request.cookies.get(SESSION_COOKIE)
        if key is not None:
            try:
                caller = identify(request, key)
            except ServiceError as err:  # too many unknown keys from this address
                return refuse(request, err.status, err.reason, err.headers)
            if caller is None:
                return refuse(request, 401, "this API key is not known")
        elif session:
            caller = sessions(request).caller(session, datetime.now(UTC))
            if caller is None:
                return refuse(request, 401, "the codec session has ended: sign in at /codec/login")
        else:
            return refuse(
                request,
                401,
                f"an API key is required ({API_KEY_HEADER} or a Bearer token), or a session "
                "from /codec/login",
            )
        if caller.role not in CODEC_ROLES:
            return refuse(
                request,
                403,
                f"role {caller.role.value} may not use the codec; needs compliance or admin",
            )
        # Encoding makes input a strict-mode worker accepts: for those who may change cases.
        if action == "encode" and caller.role not in ADMIN:
            return refuse(
                request,
                403,
                f"role {caller.role.value} may only decode; encoding (input for workflows) "
                "needs admin",
            )
        try:
            payloads = json_format.Parse(await request.body(), Payloads())
        except (json_format.ParseError, UnicodeDecodeError) as err:
            log_internal(request, "codec: unreadable payloads document", err)
            return refuse(request, 400, "not a payloads document")
        transform: Transform = codec.encode if action == "encode" else codec.decode
        try:
            done = await transform(list(payloads.payloads))
        except CodecKeyError as err:  # names key ids: for the log, not the caller
            log_internal(request, "codec: payloads refused", err)
            return refuse(request, 422, "these payloads cannot be decoded here")
        # Who read (or wrote) client data, as history reads are logged; never the payloads.
        namespace = request.headers.get("x-namespace", "")[:100] or "not named"
        log.info(
            "%d payload(s) %sd by %s (namespace %r, %s)",
            len(done),
            action,
            caller.name,
            namespace,
            "API key" if key is not None else "codec session",
        )
        return Response(
            json_format.MessageToJson(Payloads(payloads=done)),
            media_type="application/json",
            headers=cors(request),
        )

    @router.post("/encode", openapi_extra=_BODY, summary="Encrypt payloads (Temporal codec)")
    async def codec_encode(request: Request) -> Response:
        return await apply(request, "encode")

    @router.post("/decode", openapi_extra=_BODY, summary="Decrypt payloads (Temporal codec)")
    async def codec_decode(request: Request) -> Response:
        return await apply(request, "decode")

    @router.options("/encode", include_in_schema=False)
    @router.options("/decode", include_in_schema=False)
    async def codec_preflight(request: Request) -> Response:
        headers = cors(request)
        if "Access-Control-Allow-Origin" in headers:
            headers |= {
                "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": "600",
            }
        return Response(status_code=204, headers=headers)

    @router.get("/login", response_class=HTMLResponse, summary="Codec session for the UI")
    async def codec_login_page(request: Request) -> HTMLResponse:
        """A form for a compliance or admin key; the session it opens lets the Temporal UI
        decrypt payloads in this browser."""
        return _login_page(_endpoint(request))

    @router.post("/login", response_class=HTMLResponse, include_in_schema=False)
    async def codec_login(request: Request) -> Response:
        endpoint = _endpoint(request)
        if not _same_origin(request, settings):
            return _login_page(endpoint, error=CROSS_SITE, status_code=403)
        key = (await api_pages.form_fields(request)).get("key", "")
        try:
            caller = identify(request, key) if key else None
        except ServiceError as err:  # too many unknown keys from this address
            page = _login_page(endpoint, error=err.reason, status_code=err.status)
            page.headers.update(err.headers or {})
            return page
        if caller is None:
            return _login_page(endpoint, error="This API key is not known.", status_code=401)
        if caller.role not in CODEC_ROLES:
            return _login_page(
                endpoint,
                error=f"Role {caller.role.value} may not read client data.",
                status_code=403,
            )
        now = datetime.now(UTC)
        page = _login_page(endpoint, session=(caller.name, now + CODEC_SESSION))
        # Behind a TLS proxy the app sees http: the public URL's scheme decides (or the proxy's
        # X-Forwarded-Proto, when uvicorn trusts it through FORWARDED_ALLOW_IPS).
        https = request.url.scheme == "https" or settings.public_base_url.startswith("https://")
        page.set_cookie(
            SESSION_COOKIE,
            sessions(request).open(caller, now),
            max_age=int(CODEC_SESSION.total_seconds()),
            path="/codec",
            httponly=True,
            secure=https,
            # The UI and the API are usually one site (same host, other port), where Lax
            # cookies ride along; across sites only SameSite=None (which needs https) does.
            samesite="none" if https else "lax",
        )
        return page

    @router.post("/logout", response_class=HTMLResponse, include_in_schema=False)
    async def codec_logout(request: Request) -> Response:
        if not _same_origin(request, settings):
            return _login_page(_endpoint(request), error=CROSS_SITE, status_code=403)
        page = _login_page(_endpoint(request))
        page.delete_cookie(SESSION_COOKIE, path="/codec")
        return page

    return router
