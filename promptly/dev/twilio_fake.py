"""A local stand-in for Twilio's Messages API, for tests and `make run` (no account needed).

    with TwilioFake(account_sid="AC...", auth_token="...") as fake:
        channel = TwilioSmsChannel("AC...", "...", sender="+48500000000", base_url=fake.url)
        fake.script(429, code=20429, headers={"Retry-After": "7"})  # next answer, then rules
        ...
        assert fake.messages[0].to == "+48600100200"

It serves `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` on 127.0.0.1 from a daemon
thread and records every request. Scripted answers come first, in order; with none left it
answers like Twilio: wrong account or token → 401 with error 20003, a `To` that is not
E.164 or is Twilio's magic invalid number +15005550001 → 400 with 21211, a landline
(+15005550009) → 400 with 21614, anything else → 201 with the message resource (status
`queued`). `GET .../Messages.json?To=` lists the accepted messages as Twilio does, newest
first; `GET /messages` lists them as JSON, for a person to read. `outage(503)` answers every
message with that status (after the script) until `recover()`. `answer_late(seconds)` and
`hang_up()` take the next message as ever and then answer it too late, or not at all.
Error bodies have Twilio's shape: {"code", "message", "more_info", "status"}.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs

from promptly.dev.local_fake import FakeServer, LocalFake

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
INVALID_NUMBER = "+15005550001"
LANDLINE_NUMBER = "+15005550009"
_MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")


@dataclass(frozen=True)
class FakeAnswer:
    status: int
    code: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    # Twilio failed after taking the message: it keeps (and lists) it all the same.
    takes: bool = False


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the fake saw it, with the answer it gave."""

    path: str
    account_sid: str | None  # from the basic-auth header
    form: dict[str, str]
    status: int
    sid: str | None  # the message SID of an accepted message

    @property
    def to(self) -> str | None:
        return self.form.get("To")

    @property
    def body(self) -> str | None:
        return self.form.get("Body")


class TwilioFake(LocalFake):
    name = "twilio-fake"

    def __init__(
        self,
        account_sid: str = "AC" + "0" * 32,
        auth_token: str = "test-auth-token",
        port: int = 0,
    ) -> None:
        super().__init__(port)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._lock = threading.Lock()
        self._requests: list[ReceivedRequest] = []
        self._script: deque[FakeAnswer] = deque()
        self._resources: list[dict[str, object]] = []  # the accepted messages, as Twilio keeps them
        self._outage: FakeAnswer | None = None
        self._list_outage: int | None = None

    def script(self, status: int, code: int | None = None, **kw: Mapping[str, str]) -> None:
        """Queue the next answer (before the rules apply again)."""
        with self._lock:
            self._script.append(FakeAnswer(status, code, kw.get("headers", {})))

    def outage(self, status: int = 503, code: int | None = None, *, takes: bool = False) -> None:
        """Answer every message with `status` (after the script) until `recover()`; `takes`:
        each is kept and listed all the same (Twilio failed after taking it)."""
        with self._lock:
            self._outage = FakeAnswer(status, code, takes=takes)

    def recover(self) -> None:
        with self._lock:
            self._outage = None
            self._list_outage = None

    def list_outage(self, status: int = 503) -> None:
        """Answer every list of messages with `status` until `recover()`."""
        with self._lock:
            self._list_outage = status

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def messages(self) -> list[ReceivedRequest]:
        """The accepted messages (201), oldest first."""
        return [r for r in self.requests if r.status == 201]

    @property
    def kept(self) -> list[dict[str, object]]:
        """Every message Twilio holds (and lists), answered 201 or not, oldest first."""
        with self._lock:
            return list(self._resources)

    def sent_to(self, number: str) -> list[ReceivedRequest]:
        return [r for r in self.messages if r.to == number]

    # --- answering --------------------------------------------------------------------

    def _answer(
        self, path: str, authorization: str | None, form: dict[str, str]
    ) -> tuple[int, dict[str, object], Mapping[str, str]]:
        account = _basic_user(authorization)
        match = _MESSAGES_PATH.match(path)
        with self._lock:
            scripted = self._script.popleft() if self._script else self._outage
        sid: str | None = None
        headers: Mapping[str, str] = {}
        if scripted is not None:
            status, code, headers = scripted.status, scripted.code, scripted.headers
        elif match is None:
            status, code = 404, 20404
        elif not self._authorized(authorization) or match["sid"] != self.account_sid:
            status, code = 401, 20003
        elif not E164.match(form.get("To", "")) or form.get("To") == INVALID_NUMBER:
            status, code = 400, 21211
        elif form.get("To") == LANDLINE_NUMBER:
            status, code = 400, 21614
        elif not form.get("Body"):
            status, code = 400, 21602
        else:
            status, code = 201, None
        body: dict[str, object]
        if status == 201 or (scripted is not None and scripted.takes and match is not None):
            sid = "SM" + secrets.token_hex(16)
            body = _resource(sid, self.account_sid, form)
            with self._lock:
                self._resources.append(body)
        if status != 201:
            body = {
                "code": code,
                "message": _MESSAGES.get(code or 0, "Error"),
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            }
        with self._lock:
            self._requests.append(ReceivedRequest(path, account, form, status, sid))
        return status, body, headers

    def _authorized(self, authorization: str | None) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return authorization == f"Basic {expected}"

    def listing(self) -> list[dict[str, object]]:
        return [asdict(r) for r in self.messages]

    def page(
        self, path: str, authorization: str | None, query: dict[str, str]
    ) -> tuple[int, object]:
        """Twilio's list of messages (`GET .../Messages.json`), newest first, by `To`."""
        match = _MESSAGES_PATH.match(path)
        if match is None:
            return 404, {"code": 20404, "message": _MESSAGES[20404], "status": 404}
        if not self._authorized(authorization) or match["sid"] != self.account_sid:
            return 401, {"code": 20003, "message": _MESSAGES[20003], "status": 401}
        with self._lock:
            down = self._list_outage
        if down is not None:
            return down, {"code": None, "message": "Service Unavailable", "status": down}
        with self._lock:
            found = [m for m in reversed(self._resources) if m["to"] == query.get("To", m["to"])]
        shown = found[: int(query.get("PageSize", "50"))]
        return 200, {
            "messages": shown,
            "page": 0,
            "page_size": len(shown),
            "start": 0,
            "end": max(len(shown) - 1, 0),
            "first_page_uri": path,
            "next_page_uri": None,
            "previous_page_uri": None,
            "uri": path,
        }


_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    21211: "Invalid 'To' Phone Number",
    21602: "Message body is required.",
    21614: "'To' number is not a valid mobile number",
    20429: "Too Many Requests",
}


def _basic_user(authorization: str | None) -> str | None:
    if not authorization or not authorization.startswith("Basic "):
        return None
    try:
        return base64.b64decode(authorization[6:]).decode().partition(":")[0]
    except ValueError:
        return None


def _resource(sid: str, account_sid: str, form: dict[str, str]) -> dict[str, object]:
    now = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    return {
        "sid": sid,
        "account_sid": account_sid,
        "to": form.get("To"),
        "from": form.get("From"),
        "messaging_service_sid": form.get("MessagingServiceSid"),
        "body": form.get("Body"),
        "status": "queued",
        "num_segments": "1",
        "direction": "outbound-api",
        "date_created": now,
        "date_updated": now,
        "date_sent": None,
        "error_code": None,
        "error_message": None,
        "price": None,
        "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
    }


class _Handler(BaseHTTPRequestHandler):
    server: FakeServer

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        status, body, headers = self.server.fake._answer(
            self.path, self.headers.get("Authorization"), form
        )
        if not self.server.fake.answer_now():
            self.close_connection = True
            return
        try:
            self._send(status, body, headers)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on a late answer

    def do_GET(self) -> None:  # noqa: N802
        path, _, query = self.path.partition("?")
        if path.rstrip("/") == "/messages":
            self._send(200, self.server.fake.listing(), {})
            return
        form = {k: v[-1] for k, v in parse_qs(query).items()}
        status, body = self.server.fake.page(path, self.headers.get("Authorization"), form)
        self._send(status, body, {})

    def _send(self, status: int, body: object, headers: Mapping[str, str]) -> None:
        payload = json.dumps(body, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        return  # quiet: tests and `make run` read what it received from `messages`


# The fake answers through this handler (defined after the fake it reads from).
TwilioFake.handler = _Handler
