"""Signed, revocable calendar-feed tokens: one per provider, valid until its version moves.

token = base64url(HMAC-SHA256(feed key, "calendar-feed:" provider id ":" version)). The
version lives in PostgreSQL (calendar_feed_tokens); revoking moves it, so every URL handed out
before stops working at once and a new one can be issued. The key is derived from the master
secret for this one purpose only (`feed_key`: HKDF, domain/keys.py), so a client-link token can
never pass as a feed token. A token names no key: it is checked against each key the keyring
still accepts (the previous secret's, during a rotation's grace period).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

from promptly.domain import keys

PURPOSE = "calendar-feed:"


def feed_key(link_secret: str) -> bytes:
    """The key that signs feed tokens, separate from the one signing client links (HKDF)."""
    return keys.derive_key(link_secret, keys.CALENDAR_FEEDS)


def feed_token(key: bytes, provider_id: str, version: int) -> str:
    message = f"{PURPOSE}{provider_id}:{version}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_matches(
    keyring: keys.Keyring, provider_id: str, version: int, token: str, now: datetime
) -> bool:
    """Whether `token` is the feed token under a key the keyring accepts at `now`: after a
    rotation, URLs signed with the previous secret work until its grace period ends."""
    # Bytes, not str: compare_digest refuses a non-ASCII str (TypeError), and the token is
    # whatever the URL's query held.
    presented = token.encode()
    return any(
        hmac.compare_digest(feed_token(key, provider_id, version).encode(), presented)
        for key in keyring.accepted(now)
    )
