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


def verify(secret: str, token: str, now: datetime) -> LinkClaims:
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
