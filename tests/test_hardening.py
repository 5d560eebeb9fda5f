"""Smaller hardening items, each tried: codec sessions end with their key, CSRF-safe codec
login/logout, Secure cookies behind a TLS proxy, log redaction without the leading +, https
webhooks, and a Markdown history export that client-typed text cannot restructure."""

from __future__ import annotations

import base64
import os
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markdown_it import MarkdownIt
from pydantic import SecretStr, ValidationError

from promptly.api.app import create_app
from promptly.api.auth import ApiKeys, hash_key
from promptly.api.codec import SESSION_COOKIE, CodecSessions
from promptly.config import ApiKey, ApiRole, Settings
from promptly.domain import keys
from promptly.observability import MAX_RECORD_CHARS, redact
from promptly.services.history_models import (
    CaseExport,
    ClientExport,
    ClientReply,
    ExportedEntry,
    ExportedMessage,
)
from promptly.services.history_render import render_client_markdown, render_markdown

NOW = datetime(2031, 3, 1, 9, 30, tzinfo=UTC)
SECRET = secrets.token_urlsafe(48)
WEBHOOK_SECRET = "w" * 32


# --- codec sessions ---------------------------------------------------------------------------


def test_a_codec_session_ends_when_its_api_key_is_rotated_or_removed() -> None:
    keyring = keys.Keyring.of(keys.CODEC_SESSIONS, SECRET)
    before = ApiKeys({"audit": ApiKey(key_sha256=hash_key("old-key"), role=ApiRole.COMPLIANCE)})
    caller = before.named("audit")
    assert caller is not None
    cookie = CodecSessions(keyring, before).open(caller, NOW)
    assert CodecSessions(keyring, before).caller(cookie, NOW) == caller
    rotated = ApiKeys({"audit": ApiKey(key_sha256=hash_key("new-key"), role=ApiRole.COMPLIANCE)})
    assert CodecSessions(keyring, rotated).caller(cookie, NOW) is None
    assert CodecSessions(keyring, ApiKeys({})).caller(cookie, NOW) is None


def _codec_app(**overrides: Any) -> TestClient:
    key = base64.b64encode(os.urandom(32)).decode()
    settings = Settings(
        link_secret=SECRET,
        codec_keys={"k": SecretStr(key)},
        codec_key_id="k",
        api_keys={"root": ApiKey(key_sha256=hash_key("root-key-0123456789"), role=ApiRole.ADMIN)},
        **overrides,
    )
    return TestClient(create_app(settings), base_url="http://promptly.test")


def test_codec_login_and_logout_posted_from_another_site_are_refused() -> None:
    http = _codec_app()
    form = {"key": "root-key-0123456789"}
    for headers in (
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "null"},
    ):
        login = http.post("/codec/login", data=form, headers=headers)
        assert login.status_code == 403 and SESSION_COOKIE not in login.headers.get(
            "set-cookie", ""
        )
        logout = http.post("/codec/logout", headers=headers)
        assert logout.status_code == 403 and "set-cookie" not in logout.headers
    ours = http.post(
        "/codec/login",
        data=form,
        headers={"Origin": "http://promptly.test", "Sec-Fetch-Site": "same-origin"},
    )
    assert ours.status_code == 200 and SESSION_COOKIE in ours.headers["set-cookie"]
    # Our page sends no referrer: a browser then posts `Origin: null` with Sec-Fetch-Site.
    own_page = http.post(
        "/codec/login", data=form, headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"}
    )
    assert own_page.status_code == 200 and SESSION_COOKIE in own_page.headers["set-cookie"]


def test_session_cookie_is_secure_behind_a_tls_proxy() -> None:
    plain = _codec_app().post("/codec/login", data={"key": "root-key-0123456789"})
    assert "secure" not in plain.headers["set-cookie"].lower()  # a local http dev setup
    # The proxy ends TLS; the app sees http, the public URL says https.
    proxied = _codec_app(public_base_url="https://promptly.example.com").post(
        "/codec/login", data={"key": "root-key-0123456789"}
    )
    cookie = proxied.headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie


# --- logs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "call 600 100 200 now",
        "call 600100200",
        "call 0048600100200",
        "call (22) 555-01-23 4",
        "call +48 600-100-200",
    ],
)
def test_phones_are_masked_with_or_without_plus(text: str) -> None:
    masked = redact(text)
    assert "<phone>" in masked and "600" not in masked.replace("<phone>", "")


@pytest.mark.parametrize(
    "text", ["at 2031-03-01 10:00:00", "case A-1001 seq 12", "took 1234 ms", "port 8000"]
)
def test_dates_ids_and_small_numbers_stay(text: str) -> None:
    assert redact(text) == text


def test_redaction_work_is_bounded_for_hostile_input() -> None:
    # Long runs that an unbounded pattern rescans from every position.
    for hostile in ("a" * 200_000, "1 " * 100_000, "a." * 100_000 + "@", "+1" + "-" * 200_000):
        out = redact(hostile)
        assert len(out) <= MAX_RECORD_CHARS + 40
    assert redact("x" * MAX_RECORD_CHARS + "anna@example.com").endswith("characters cut]")


# --- webhooks -------------------------------------------------------------------------------


def test_webhooks_need_https_outside_this_machine() -> None:
    with pytest.raises(ValidationError, match="must use https"):
        Settings(webhook_urls=["http://crm.example.com/promptly"], webhook_secret=WEBHOOK_SECRET)
    for url in (
        "https://crm.example.com/promptly",
        "http://127.0.0.1:9000/x",
        "http://localhost/x",
    ):
        assert Settings(webhook_urls=[url], webhook_secret=WEBHOOK_SECRET).webhook_urls


# --- the Markdown export --------------------------------------------------------------------------


def test_client_typed_text_cannot_restructure_the_markdown_export() -> None:
    hostile = (
        "[urgent](https://evil.example/phish) <img src=x onerror=alert(1)> "
        "![x](https://evil.example/t.png)\n# Case closed\n| forged | row |"
    )
    message = ExportedMessage(
        message_id=1,
        template="cancellation",
        channel="email",
        recipient_role="client",
        recipient="anna@example.com",
        locale="en",
        subject=f"About {hostile}",
        body=f"Hello <script>x</script>\n{hostile}\n",
        status="sent",
        attempts=1,
        last_error=None,
        requested_at=NOW,
        sent_at=NOW,
        provider_id=None,
    )
    export = CaseExport(
        case_id="appointment-A-1",
        kind="appointment",
        business_id="A-1",
        status="Cancelled",
        client_id="C-17",
        provider_id="P-3",
        starts_at=NOW + timedelta(days=1),
        details={"client_name": hostile},
        timezone="Europe/Warsaw",
        entries=[
            ExportedEntry(
                seq=1,
                at=NOW,
                kind="status",
                actor="client:C-17",
                detail=f"Client cancelled: {hostile}",
                reason=hostile,
                data={},
                message=message,
                reply=ClientReply(
                    received_at=NOW,
                    channel="sms",
                    sender="+48600100200",
                    body=hostile,
                    intent="other",
                    outcome="task",
                    case_id="appointment-A-1",
                ),
            )
        ],
    )
    html = MarkdownIt("commonmark").render(render_markdown(export))
    for forbidden in ("<a ", "<img", "<script", 'evil.example/phish"', "<h1>Case closed"):
        assert forbidden not in html, forbidden
    assert html.count("<h1>") == 1  # the export's own title only
    assert "[urgent](https://evil.example/phish)" in html  # shown as the text the client typed


def test_a_clients_reply_cannot_restructure_the_client_export() -> None:
    """Anyone who texts from a client's number or writes from their address types a reply."""
    hostile = (
        "hi ![p](https://evil.example/p.png) [Verify](https://evil.example/login)\n\n"
        "# Compliance note: reviewed\n<img src=https://evil.example/x onerror=alert(1)>"
    )
    export = ClientExport(
        client_id="C-17",
        timezone="Europe/Warsaw",
        cases=[],
        replies=[
            ClientReply(
                received_at=NOW,
                channel="email",
                sender="Eve <anna@example.com> [x](https://evil.example)",
                body=hostile,
                intent="other",
                outcome="task",
                case_id="appointment-A-1",
            )
        ],
    )
    html = MarkdownIt("commonmark").render(render_client_markdown(export))
    for forbidden in ("<a ", "<img", "<h1>Compliance", "<script"):
        assert forbidden not in html, forbidden
    assert html.count("<h1>") == 1
    assert "[Verify](https://evil.example/login)" in html  # what the client typed, as text
