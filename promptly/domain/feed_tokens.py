"""Signed, revocable calendar-feed tokens: one per provider, valid until its version moves.

token = base64url(HMAC-SHA256(feed key, "calendar-feed:" provider id ":" version)). The
version lives in PostgreSQL (calendar_feed_tokens); revoking moves it, so every URL handed out
before stops working at once and a new one can be issued. The key is derived from the link
secret for this one purpose only (`feed_key`), so a client-link token can never pass as a
feed token and the derivation can change in one place.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

PURPOSE = "calendar-feed:"


def feed_key(link_secret: str) -> bytes:
    """The key that signs feed tokens, separate from the one signing client links."""
    return hmac.new(link_secret.encode(), b"promptly/" + PURPOSE.encode(), hashlib.sha256).digest()


def feed_token(key: bytes, provider_id: str, version: int) -> str:
    message = f"{PURPOSE}{provider_id}:{version}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_matches(key: bytes, provider_id: str, version: int, token: str) -> bool:
    return hmac.compare_digest(feed_token(key, provider_id, version), token)
