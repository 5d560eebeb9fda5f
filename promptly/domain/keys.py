"""One key per purpose, derived from the deployment's master secret, with rotation.

The master secret (`PROMPTLY_LINK_SECRET`) never signs anything itself: each purpose gets its
own key, HKDF-SHA256 (RFC 5869) of the secret with the purpose as `info`, so a client link can
never pass for a codec session or a page token, and a leak of one derived key does not give
the others. Every signature carries the key id (a fingerprint of the master secret), so after
a rotation tokens signed with the previous secret still verify until the grace period ends.

Pure: callers pass the secrets and the time.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

LINKS = "client-links"
PAGE_TOKENS = "page-tokens"
CODEC_SESSIONS = "codec-sessions"
CALENDAR_FEEDS = "calendar-feeds"
PURPOSES = (LINKS, PAGE_TOKENS, CODEC_SESSIONS, CALENDAR_FEEDS)
# A family of purposes: `webhook:<url>`, one signing secret per webhook receiver URL.
WEBHOOKS = "webhook:"

MIN_SECRET_BYTES = 32
_SALT = b"promptly/v1"


def hkdf_sha256(secret: bytes, info: bytes, length: int = 32, salt: bytes = _SALT) -> bytes:
    """RFC 5869 HKDF with SHA-256: extract, then expand to `length` bytes."""
    if length > 255 * 32:
        raise ValueError("HKDF-SHA256 yields at most 8160 bytes")
    prk = hmac.new(salt, secret, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def _bytes(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def derive_key(secret: str | bytes, purpose: str) -> bytes:
    """The 32-byte key for one purpose (LINKS, PAGE_TOKENS, CODEC_SESSIONS, CALENDAR_FEEDS…)."""
    return hkdf_sha256(_bytes(secret), b"purpose:" + purpose.encode())


def key_id(secret: str | bytes) -> str:
    """A public fingerprint of the master secret (8 hex digits): names the key in tokens."""
    return hkdf_sha256(_bytes(secret), b"key-id", length=4).hex()


@dataclass(frozen=True)
class Keyring:
    """The keys of one purpose: the current one signs, the previous one still verifies until
    `previous_until` (the rotation's grace period)."""

    purpose: str
    current_id: str
    current: bytes
    previous_id: str | None = None
    previous: bytes | None = None
    previous_until: datetime | None = None

    @classmethod
    def of(
        cls,
        purpose: str,
        secret: str | bytes,
        previous: str | bytes | None = None,
        previous_until: datetime | None = None,
    ) -> Keyring:
        if previous is not None and previous_until is None:
            raise ValueError("a previous secret needs the end of its grace period")
        return cls(
            purpose=purpose,
            current_id=key_id(secret),
            current=derive_key(secret, purpose),
            previous_id=key_id(previous) if previous is not None else None,
            previous=derive_key(previous, purpose) if previous is not None else None,
            previous_until=previous_until if previous is not None else None,
        )

    def mac(self, message: bytes) -> tuple[str, bytes]:
        """(key id, HMAC-SHA256) of `message` under the current key."""
        return self.current_id, hmac.new(self.current, message, hashlib.sha256).digest()

    def key(self, key_id: str, now: datetime) -> bytes | None:
        """The key a token names, if it is still accepted at `now`."""
        if hmac.compare_digest(key_id.encode(), self.current_id.encode()):
            return self.current
        if (
            self.previous is not None
            and self.previous_id is not None
            and self.previous_until is not None
            and hmac.compare_digest(key_id.encode(), self.previous_id.encode())
            and now < self.previous_until
        ):
            return self.previous
        return None

    def accepted(self, now: datetime) -> tuple[bytes, ...]:
        """The keys that still verify at `now`, current first: for tokens that name no key id
        (compact link tokens, calendar feed tokens), tried against each."""
        previous, until = self.previous, self.previous_until
        if previous is None or until is None or now >= until or previous == self.current:
            return (self.current,)
        return (self.current, previous)

    def verify(self, key_id: str, message: bytes, mac: bytes, now: datetime) -> bool:
        """Whether `mac` is the MAC of `message` under the key `key_id` names (bytes compare)."""
        key = self.key(key_id, now)
        if key is None:
            return False
        return hmac.compare_digest(mac, hmac.new(key, message, hashlib.sha256).digest())
