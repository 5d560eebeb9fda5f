"""A local stand-in for SendGrid's v3 mail API, for tests that use the real `sendgrid` client.

    with SendGridFake(api_key="SG.test") as fake:
        channel = SendGridChannel("SG.test", "no-reply@promptly.example", host=fake.url)
        fake.script(429, headers={"Retry-After": "7"})   # the next answer, then the rules
        ...
        assert fake.requests[0].body["subject"] == "..."

It serves `POST /v3/mail/send` on 127.0.0.1 (a free port) from a daemon thread and records
every request. Scripted responses are used first, in order; with none left it answers like
SendGrid: an unknown or missing key is 401, a recipient whose address contains "bounce" is
400 with a field error, anything else is 202 with an empty body and an `X-Message-Id`.
Error bodies have SendGrid's shape: {"errors": [{"message", "field", "help"}]}.
`answer_late(seconds)` and `hang_up()` handle the next request as ever (a 202: the email went)
and then answer too late, or not at all. `hold_answers()` keeps each request's answer until
`release()`: a send's attempt stays in flight with the provider for as long as a test needs.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, cast

from promptly.dev.local_fake import FakeServer, LocalFake

MAIL_SEND_PATH = "/v3/mail/send"


@dataclass(frozen=True)
class FakeResponse:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it, with the answer it gave."""

    method: str
    path: str
    headers: Mapping[str, str]
    raw_body: bytes
    body: Any  # the parsed JSON, None if the body was not JSON
    response: FakeResponse

    def header(self, name: str) -> str | None:
        """A request header, looked up case-insensitively."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    @property
    def api_key(self) -> str | None:
        auth = self.header("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        return token if scheme.lower() == "bearer" and token else None

    @property
    def recipients(self) -> list[str]:
        """Every `to` address of every personalization."""
        return [to["email"] for to in _each_to(self.body)]

    @property
    def idempotency_key(self) -> str:
        """The key Promptly sends in `custom_args`, `<case>/<template>[/<number>]`; "" if none."""
        custom_args = (self.body or {}).get("custom_args") or {}
        return str(custom_args.get("idempotency_key", ""))

    @property
    def template(self) -> str:
        """What the message was: the template named in its idempotency key."""
        return self.idempotency_key.split("/")[1]

    @property
    def message_id(self) -> str | None:
        return next(
            (v for k, v in self.response.headers.items() if k.lower() == "x-message-id"), None
        )


def error_body(message: str, field: str | None = None, help: str | None = None) -> bytes:
    """SendGrid's error response body with one error."""
    return json.dumps({"errors": [{"message": message, "field": field, "help": help}]}).encode()


class SendGridFake(LocalFake):
    name = "sendgrid-fake"

    def __init__(self, api_key: str = "SG.test") -> None:
        super().__init__()
        self.api_key = api_key
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._script: deque[FakeResponse] = deque()
        self._outage: FakeResponse | None = None
        self._gate: threading.Event | None = None
        self._held: list[RecordedRequest] = []

    # --- what tests use ----------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def script(
        self,
        status: int,
        body: bytes | str | Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Queue the answer to the next unanswered request, whatever it is.

        A dict body is sent as JSON, a str as UTF-8. Without a body, an error status gets
        SendGrid's error shape with the status phrase as message, a 2xx an empty body; a 2xx
        without an X-Message-Id header gets a fresh one.
        """
        answer_headers = dict(headers or {})
        if body is None:
            raw = b"" if status < 400 else error_body(_phrase(status))
        elif isinstance(body, bytes):
            raw = body
        elif isinstance(body, str):
            raw = body.encode()
        else:
            raw = json.dumps(body).encode()
        if 200 <= status < 300 and not any(k.lower() == "x-message-id" for k in answer_headers):
            answer_headers["X-Message-Id"] = new_message_id()
        with self._lock:
            self._script.append(FakeResponse(status, raw, answer_headers))

    def outage(self, status: int = 503, headers: Mapping[str, str] | None = None) -> None:
        """Answer every request with `status` (after the script) until `recover()`."""
        with self._lock:
            self._outage = FakeResponse(status, error_body(_phrase(status)), dict(headers or {}))

    def recover(self) -> None:
        with self._lock:
            self._outage = None

    def hold_answers(self) -> None:
        """From now on each request is handled as ever (recorded, its answer decided) and
        answered only at `release()`: the attempt waits with the provider meanwhile."""
        with self._lock:
            self._gate = self._gate or threading.Event()

    def release(self) -> None:
        """Answer the requests held since `hold_answers()`; the next ones are answered at once."""
        with self._lock:
            gate, self._gate = self._gate, None
        if gate is not None:
            gate.set()

    @property
    def held(self) -> list[RecordedRequest]:
        """The requests waiting for `release()` to be answered."""
        with self._lock:
            return list(self._held)

    def _wait_for_release(self, request: RecordedRequest) -> None:
        with self._lock:
            gate = self._gate
            if gate is None:
                return
            self._held.append(request)
        gate.wait(timeout=60)  # a test that never releases does not keep the thread forever
        with self._lock:
            self._held.remove(request)

    @property
    def accepted(self) -> list[RecordedRequest]:
        """The requests SendGrid accepted (2xx): what actually went out."""
        return [r for r in self.requests if 200 <= r.response.status < 300]

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._script.clear()

    # --- the server side ---------------------------------------------------------------

    def _answer(
        self, method: str, path: str, headers: Mapping[str, str], raw: bytes
    ) -> FakeResponse:
        try:
            body: Any = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            body = None
        with self._lock:
            response = (
                self._script.popleft()
                if self._script
                else self._outage or self._by_rules(method, path, headers, raw, body)
            )
            request = RecordedRequest(method, path, dict(headers), raw, body, response)
            self._requests.append(request)
        self._wait_for_release(request)
        return response

    def _by_rules(
        self, method: str, path: str, headers: Mapping[str, str], raw: bytes, body: Any
    ) -> FakeResponse:
        json_type = {"Content-Type": "application/json"}
        if path.split("?", 1)[0] != MAIL_SEND_PATH:
            return FakeResponse(404, error_body("not found"), json_type)
        if method != "POST":
            return FakeResponse(405, error_body("method not allowed"), json_type)
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, token = auth.partition(" ")
        if not auth:
            return FakeResponse(401, error_body("authorization required"), json_type)
        if scheme.lower() != "bearer" or token != self.api_key:
            return FakeResponse(
                401,
                error_body("The provided authorization grant is invalid, expired, or revoked"),
                json_type,
            )
        if not isinstance(body, dict):
            return FakeResponse(400, error_body("Bad Request"), json_type)
        for i, j, to in _each_to_indexed(body):
            if "bounce" in str(to.get("email", "")).lower():
                return FakeResponse(
                    400,
                    error_body(
                        "Does not contain a valid address.",
                        field=f"personalizations.{i}.to.{j}.email",
                        help="http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"
                        "#message.personalizations.to",
                    ),
                    json_type,
                )
        return FakeResponse(202, b"", {"X-Message-Id": new_message_id()})


def new_message_id() -> str:
    """An id shaped like SendGrid's X-Message-Id (22 URL-safe characters)."""
    return secrets.token_urlsafe(16)[:22]


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _each_to_indexed(body: Any) -> Iterator[tuple[int, int, dict[str, Any]]]:
    if not isinstance(body, dict):
        return
    for i, personalization in enumerate(body.get("personalizations") or []):
        if not isinstance(personalization, dict):
            continue
        for j, to in enumerate(personalization.get("to") or []):
            if isinstance(to, dict):
                yield i, j, to


def _each_to(body: Any) -> Iterator[dict[str, Any]]:
    return (to for _, _, to in _each_to_indexed(body))


class _Handler(BaseHTTPRequestHandler):
    server_version = "nginx"
    sys_version = ""

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        fake = cast(FakeServer, self.server).fake
        response = fake._answer(self.command, self.path, dict(self.headers.items()), raw)
        if not fake.answer_now():
            self.close_connection = True
            return
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if response.body:
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on a late answer

    do_POST = _handle
    do_GET = _handle
    do_PUT = _handle
    do_PATCH = _handle
    do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        pass


# The fake answers through this handler (defined after the fake it reads from).
SendGridFake.handler = _Handler
