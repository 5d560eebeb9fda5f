"""`Idempotency-Key` on every POST: a repeat changes nothing and answers the first answer.

Two layers, so a retry is safe whatever failed:
- The answer store (`api_idempotency` table): the first request with a key claims it, runs,
  and stores its answer (2xx, 404, 409); a repeat with the same key, caller and request gets
  that answer back byte for byte with `Idempotent-Replayed: true`. "The same request" is the
  same path, query and body, a JSON body compared as JSON (`fingerprint`: its keys in any
  order, any spacing). The same key with another request is 422. A repeat while the first
  still runs is 409 with `Retry-After`. Answers that say nothing happened for good
  (401/403/422, 5xx, 504) are not stored: a retry runs again.
- Derived ids: the Temporal requests a keyed POST makes carry ids derived from the key
  (`update_id_for`), so even when the store cannot help (PostgreSQL down, the first request
  crashed after Temporal applied the update) Temporal applies the update once and answers
  its first outcome.

Keys live `RETENTION` (24h), as payment APIs do; the codec routes are left alone (they
change nothing and their answers are decrypted payloads, which must not be stored).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Header, Request
from psycopg_pool import AsyncConnectionPool
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from promptly.api.auth import API_KEY_HEADER, ApiKeys
from promptly.api.case_reads import ETAG_HEADER, etag_of
from promptly.api.request_body import read_body, replaying
from promptly.api.security import scope_request_id
from promptly.domain import text_patterns
from promptly.services.errors import ErrorBody, ErrorCode, FieldProblem
from promptly.services.idempotency import IDEMPOTENCY_HEADER, check_key, derived_id

log = logging.getLogger("promptly.api")

RETENTION = timedelta(hours=24)
# A claim this old without an answer: its request died (timeouts are far shorter); take over.
STALE_CLAIM = timedelta(minutes=5)
STORE_TIMEOUT_S = 2.0
STORED_STATUSES = frozenset({404, 409}) | frozenset(range(200, 300))
# Not replayed from the store: the codec's calls, and the providers' webhooks (deduplicated by
# their own message ids; an email may be 30 MiB, never buffered here).
UNKEYED_PREFIXES = ("/codec/", "/inbound/")
REPLAYED_HEADER = "Idempotent-Replayed"


def idempotency_key_header(
    key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_HEADER,
            pattern=text_patterns.IDEMPOTENCY_KEY.regex,
            description="Any unique string per intended action (a UUID). Repeating the "
            "request with the same key changes nothing and returns the first answer (24h).",
        ),
    ] = None,
) -> str | None:
    return key


# Routes declare it so the header is validated (422 naming it) and shown in OpenAPI.
IDEMPOTENCY_KEY = Depends(idempotency_key_header)


def _caller_scope(headers: Headers, api_keys: ApiKeys | None) -> str:
    """Whose key it is: the API key's name, so two integrations never share answers."""
    presented = headers.get(API_KEY_HEADER)
    if presented and api_keys is not None:
        caller = api_keys.identify(presented)
        if caller is not None:
            return f"key:{caller.name}"
        return "key:unknown:" + hashlib.sha256(presented.encode()).hexdigest()
    return "anonymous"


def update_id_for(request: Request, *purpose: str) -> str | None:
    """The update id for this request's command, or None without an Idempotency-Key."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    scope = _caller_scope(request.headers, getattr(request.app.state, "api_keys", None))
    return derived_id(key, "api", scope, request.url.path, *purpose)


def _is_json(content_type: str | None) -> bool:
    """Whether the routes read a body of this type as JSON (as FastAPI decides it)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    main, _, sub = media.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def _canonical(body: bytes) -> bytes | None:
    """The JSON `body` as compact JSON with its keys sorted; None if it is not JSON."""
    try:
        # ASCII escapes: a lone surrogate (`"\ud800"`) is valid JSON but no UTF-8.
        return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):  # not JSON, not UTF-8, nested too deeply
        return None


def _digest(path: str, query: bytes, body: bytes) -> str:
    return hashlib.sha256(b"\0".join([path.encode(), query, body])).hexdigest()


@dataclass(frozen=True)
class Fingerprint:
    """What makes two requests with one key the same request: the path, the query and the
    body, a JSON body as canonical JSON (the routes read `{"b":1, "a":2}` and
    `{"a":2,"b":1}` alike, so a client that re-serialises its retry is still repeating it),
    any other body as its bytes.

    `raw` is the fingerprint of the bytes alone, as keys claimed before JSON was compared as
    JSON were stored: a retry of such a key with the very same bytes still matches it (keys
    live `RETENTION`, so 24h after the deploy there are none left)."""

    value: str
    raw: str

    @classmethod
    def of(cls, path: str, query: bytes, body: bytes, content_type: str | None) -> Fingerprint:
        raw = _digest(path, query, body)
        canonical = _canonical(body) if _is_json(content_type) else None
        return cls(raw if canonical is None else _digest(path, query, canonical), raw)

    def matches(self, stored: str) -> bool:
        return stored in (self.value, self.raw)


# --- the answer store ----------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    status: int
    content_type: str | None
    body: bytes
    location: str | None = None  # a 201's Location header


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a key: run it (`claimed`), replay, refuse, or no store."""

    claimed: bool = False
    stored: Stored | None = None
    other_request: bool = False
    in_progress: bool = False
    unavailable: bool = False


class AnswerStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def claim(self, key_hash: str, fingerprint: Fingerprint) -> Claim:
        try:
            async with self.pool.connection(timeout=STORE_TIMEOUT_S) as conn:
                for _ in range(3):  # a released claim can vanish between the two statements
                    taken = await (
                        await conn.execute(
                            """INSERT INTO api_idempotency (key_hash, fingerprint)
                               VALUES (%(key)s, %(fingerprint)s)
                               ON CONFLICT (key_hash) DO UPDATE
                                  SET fingerprint = EXCLUDED.fingerprint, status = NULL,
                                      content_type = NULL, body = NULL, location = NULL,
                                      claimed_at = now(), answered_at = NULL
                                WHERE api_idempotency.claimed_at < now() - %(retention)s
                                   OR (api_idempotency.status IS NULL
                                       AND api_idempotency.fingerprint
                                           IN (%(fingerprint)s, %(raw)s)
                                       AND api_idempotency.claimed_at < now() - %(stale)s)
                               RETURNING key_hash""",
                            {
                                "key": key_hash,
                                "fingerprint": fingerprint.value,
                                "raw": fingerprint.raw,
                                "retention": RETENTION,
                                "stale": STALE_CLAIM,
                            },
                        )
                    ).fetchone()
                    await conn.commit()
                    if taken:
                        return Claim(claimed=True)
                    row = await (
                        await conn.execute(
                            """SELECT fingerprint, status, content_type, body, location
                                 FROM api_idempotency WHERE key_hash = %s""",
                            (key_hash,),
                        )
                    ).fetchone()
                    await conn.commit()
                    if row is None:
                        continue
                    if not fingerprint.matches(row[0]):
                        return Claim(other_request=True)
                    if row[1] is None:
                        return Claim(in_progress=True)
                    return Claim(stored=Stored(row[1], row[2], bytes(row[3] or b""), row[4]))
        except Exception:
            log.warning("idempotency store unavailable; running without it", exc_info=True)
        return Claim(unavailable=True)

    async def answer(self, key_hash: str, stored: Stored) -> None:
        try:
            async with self.pool.connection(timeout=STORE_TIMEOUT_S) as conn:
                await conn.execute(
                    """UPDATE api_idempotency
                          SET status = %s, content_type = %s, body = %s, location = %s,
                              answered_at = now()
                        WHERE key_hash = %s AND status IS NULL""",
                    (stored.status, stored.content_type, stored.body, stored.location, key_hash),
                )
                # Expired keys go as new ones come: a bounded batch each time.
                await conn.execute(
                    """DELETE FROM api_idempotency WHERE key_hash IN (
                         SELECT key_hash FROM api_idempotency
                          WHERE claimed_at < now() - %s LIMIT 100)""",
                    (RETENTION,),
                )
        except Exception:
            log.warning("idempotency store: answer not kept", exc_info=True)

    async def release(self, key_hash: str) -> None:
        try:
            async with self.pool.connection(timeout=STORE_TIMEOUT_S) as conn:
                await conn.execute(
                    "DELETE FROM api_idempotency WHERE key_hash = %s AND status IS NULL",
                    (key_hash,),
                )
        except Exception:
            log.warning("idempotency store: claim not released", exc_info=True)


def _stored_etag(stored: Stored) -> str | None:
    """A replayed update's ETag, as the first answer sent it: the answered view's version."""
    if not 200 <= stored.status < 300 or not _is_json(stored.content_type):
        return None
    try:
        answered = json.loads(stored.body)
    except ValueError:
        return None
    return etag_of(answered)


# --- the middleware -----------------------------------------------------------------------


def _refusal(
    scope: Scope,
    status: int,
    code: ErrorCode,
    reason: str,
    headers: dict[str, str] | None = None,
) -> Response:
    body = ErrorBody(
        reason=reason,
        code=code,
        errors=[FieldProblem(field=IDEMPOTENCY_HEADER, reason=reason)],
        request_id=scope_request_id(scope),
    )
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


class IdempotentPosts:
    """Stores and replays the answers of POSTs that carry an `Idempotency-Key`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = headers.get(IDEMPOTENCY_HEADER)
        path: str = scope["path"]
        if key is None or path.startswith(UNKEYED_PREFIXES):
            await self.app(scope, receive, send)
            return
        try:
            check_key(key)
        except ValueError:  # the route's header dependency answers 422 naming it
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        pool: AsyncConnectionPool | None = getattr(state, "pool", None)
        # A client gone mid-body: the app reads its disconnect after what came.
        body = await read_body(receive) or b""
        replay = replaying(body, receive)
        caller = _caller_scope(headers, getattr(state, "api_keys", None))
        key_hash = hashlib.sha256(f"{caller}\0{key}".encode()).hexdigest()
        fingerprint = Fingerprint.of(
            path, scope.get("query_string", b""), body, headers.get("content-type")
        )
        store = AnswerStore(pool) if pool is not None else None
        claim = await store.claim(key_hash, fingerprint) if store else Claim(unavailable=True)
        if claim.stored is not None:
            stored = claim.stored
            replay_headers = {REPLAYED_HEADER: "true"}
            if stored.location:
                replay_headers["Location"] = stored.location
            if tag := _stored_etag(stored):
                replay_headers[ETAG_HEADER] = tag
            replayed = Response(
                stored.body,
                status_code=stored.status,
                headers=replay_headers,
                media_type=stored.content_type,
            )
            await replayed(scope, replay, send)
            return
        if claim.other_request:
            await _refusal(
                scope,
                422,
                ErrorCode.KEY_REUSED,
                "this Idempotency-Key was used for a different request; use a new key",
            )(scope, replay, send)
            return
        if claim.in_progress:
            await _refusal(
                scope,
                409,
                ErrorCode.KEY_IN_PROGRESS,
                "a request with this Idempotency-Key is still running; retry shortly",
                {"Retry-After": "1"},
            )(scope, replay, send)
            return
        await self._run(scope, replay, send, store if claim.claimed else None, key_hash)

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, store: AnswerStore | None, key: str
    ) -> None:
        status = 0
        content_type: str | None = None
        location: str | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, content_type, location
            if message["type"] == "http.response.start":
                status = message["status"]
                answered = Headers(raw=message.get("headers", []))
                content_type = answered.get("content-type")
                location = answered.get("location")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        except BaseException:
            if store is not None:
                await store.release(key)
            raise
        if store is None:
            return
        if status in STORED_STATUSES:
            await store.answer(key, Stored(status, content_type, b"".join(chunks), location))
        else:
            await store.release(key)
