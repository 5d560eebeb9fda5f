"""Signed, expiring client links scoped to one case and one action.

token = base64url(json claims) "." base64url(HMAC-SHA256(secret, claims)). Pure: the
caller passes the secret and the time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

from promptly.domain.models import Model


class LinkClaims(Model):
    case_id: str
    action: str
    expires_at: datetime


class InvalidLink(ValueError):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())


def sign(secret: str, claims: LinkClaims) -> str:
    payload = _b64(
        json.dumps(
            {"c": claims.case_id, "a": claims.action, "e": int(claims.expires_at.timestamp())},
            separators=(",", ":"),
        ).encode()
    )
    return f"{payload}.{_signature(secret, payload)}"


# Compact tokens for SMS, where every character costs: case~{action letter}{expiry in base 36}~
# and a 128-bit HMAC, about 50 characters instead of 120.
COMPACT_SEPARATOR = "~"
_ACTION_LETTERS = {"confirm": "c", "cancel": "x", "reschedule": "r", "survey": "s"}
_LETTER_ACTIONS = {letter: action for action, letter in _ACTION_LETTERS.items()}
_COMPACT_MAC_BYTES = 16


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out


def _compact_signature(secret: str, payload: str) -> str:
    mac = hmac.new(secret.encode(), b"compact:" + payload.encode(), hashlib.sha256).digest()
    return _b64(mac[:_COMPACT_MAC_BYTES])


def sign_compact(secret: str, claims: LinkClaims) -> str:
    """A short token for text messages; `verify` accepts it like a full one."""
    letter = _ACTION_LETTERS.get(claims.action)
    if letter is None or COMPACT_SEPARATOR in claims.case_id:
        return sign(secret, claims)
    payload = (
        f"{claims.case_id}{COMPACT_SEPARATOR}{letter}{_base36(int(claims.expires_at.timestamp()))}"
    )
    return f"{payload}{COMPACT_SEPARATOR}{_compact_signature(secret, payload)}"


def _verify_compact(secret: str, token: str) -> LinkClaims:
    payload, _, signature = token.rpartition(COMPACT_SEPARATOR)
    if not hmac.compare_digest(signature, _compact_signature(secret, payload)):
        raise InvalidLink("this link is not valid")
    case_id, _, rest = payload.rpartition(COMPACT_SEPARATOR)
    action = _LETTER_ACTIONS.get(rest[:1])
    try:
        expires = int(rest[1:], 36)
    except ValueError as err:
        raise InvalidLink("this link is not valid") from err
    if action is None or not case_id:
        raise InvalidLink("this link is not valid")
    return LinkClaims(
        case_id=case_id, action=action, expires_at=datetime.fromtimestamp(expires, UTC)
    )


def verify(secret: str, token: str, now: datetime) -> LinkClaims:
    if COMPACT_SEPARATOR in token:
        claims = _verify_compact(secret, token)
        if claims.expires_at <= now:
            raise InvalidLink("this link has expired")
        return claims
    payload, _, signature = token.partition(".")
    if not hmac.compare_digest(signature, _signature(secret, payload)):
        raise InvalidLink("this link is not valid")
    try:
        raw = json.loads(_unb64(payload))
        claims = LinkClaims(
            case_id=raw["c"], action=raw["a"], expires_at=datetime.fromtimestamp(raw["e"], UTC)
        )
    except (ValueError, KeyError, TypeError) as err:
        raise InvalidLink("this link is not valid") from err
    if claims.expires_at <= now:
        raise InvalidLink("this link has expired")
    return claims
