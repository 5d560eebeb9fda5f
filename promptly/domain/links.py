"""Signed, expiring client links scoped to one case and one action.

token = base64url(json claims) "." base64url(HMAC-SHA256(links key, claims)). The links key
is derived from the master secret for this purpose only (promptly/domain/keys.py) and the
claims name its key id, so a rotation keeps earlier links valid for the grace period.

A visit's link (confirm, cancel, reschedule, late, its calendar file) also names the visit's
start it was sent for (`for_start`) and how many times it had moved by then (`moves`): once the
visit has moved, even back to that start, the API refuses the earlier links (single use per
change). Stored messages keep no live
link: `redact` swaps each for its action and token id.

Pure: the caller passes the keys and the time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from promptly.domain.calendar_event import CALENDAR_LINK_ACTION
from promptly.domain.common import Model
from promptly.domain.keys import LINKS, Keyring


class LinkClaims(Model):
    case_id: str
    action: str
    expires_at: datetime
    for_start: datetime | None = None
    # The visit's reschedules when the link was sent (None: a link from before the count).
    moves: int | None = None

    def superseded_by(self, start: datetime | None, moves: int | None = None) -> bool:
        """The visit has moved since this link was sent: the link is spent. Tokens carry the
        start in whole seconds, so a start booked with a fraction of a second is still the
        same visit; the count of moves tells a visit moved away and back again. A calendar
        link that names no visit was signed before calendar links did: it is spent too (its
        page offers a fresh one), other links of that age keep working until they expire."""
        if start is None:
            return False
        if self.for_start is None:
            return self.action == CALENDAR_LINK_ACTION
        if self.moves is not None and moves is not None and self.moves != moves:
            return True
        return int(self.for_start.timestamp()) != int(start.timestamp())

    def sibling(self, action: str, start: datetime | None, moves: int | None) -> LinkClaims:
        """The claims of this case's link for another action, for the visit as it stands: same
        expiry, and the same visit (start and moves), the calendar link's too: it is spent
        once the visit moves, as the others are."""
        changes: dict[str, object] = {"action": action, "for_start": None, "moves": None}
        if self.for_start is not None:
            changes |= {"for_start": start, "moves": moves}
        return self.model_copy(update=changes)


# How long a visit's links outlive its start. On the day the client may still say they run
# late (until the no-show moment) or cancel, and a link opened that evening or the next morning
# shows what became of the visit (completed, missed, its fee) instead of "expired".
AFTER_VISIT = timedelta(days=1)


def links_expire_at(
    requested_at: datetime, ttl: timedelta, visit_start: datetime | None
) -> datetime:
    """When the links of a message expire: `ttl` after the message was asked for, and for a
    message about a visit not before `AFTER_VISIT` after its start, so that a visit booked
    further ahead than `ttl` keeps working links until it took place. Only inputs that a
    retry of the same message repeats (when it was asked for, the visit it is about): every
    attempt signs the same links."""
    expires_at = requested_at + ttl
    if visit_start is None:
        return expires_at
    return max(expires_at, visit_start + AFTER_VISIT)


class InvalidLink(ValueError):
    pass


class ExpiredLink(InvalidLink):
    """Authentic, but past its expiry: `claims` says whose link it was."""

    def __init__(self, message: str, claims: LinkClaims) -> None:
        super().__init__(message)
        self.claims = claims


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    # Tokens arrive from URLs: anything but URL-safe base64 ASCII is simply not a token.
    return base64.urlsafe_b64decode(text.encode("ascii") + b"=" * (-len(text) % 4))


def sign(keyring: Keyring, claims: LinkClaims) -> str:
    key_id, _ = keyring.mac(b"")
    raw: dict[str, object] = {
        "k": key_id,
        "c": claims.case_id,
        "a": claims.action,
        "e": int(claims.expires_at.timestamp()),
    }
    if claims.for_start is not None:
        raw["s"] = int(claims.for_start.timestamp())
        if claims.moves is not None:
            raw["m"] = claims.moves
    payload = _b64(json.dumps(raw, separators=(",", ":")).encode())
    _, mac = keyring.mac(payload.encode())
    return f"{payload}.{_b64(mac)}"


# Compact tokens for SMS, where every character costs (about 50 characters instead of 130):
# {case}~{action letter}{expiry base 36}[.{visit start base 36}[.{moves base 36}]]~{128-bit
# MAC}. No key id: the keys a keyring still accepts (the current one, the previous one in
# its grace) are tried.
COMPACT_SEPARATOR = "~"
_ACTION_LETTERS = {
    "confirm": "c",
    "cancel": "x",
    "reschedule": "r",
    "survey": "s",
    "calendar": "k",
    "acknowledge": "a",
    "late": "l",
    "complaint_feedback": "f",
}
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


def _compact_mac(key: bytes, payload: str) -> bytes:
    return hmac.new(key, b"compact:" + payload.encode(), hashlib.sha256).digest()[
        :_COMPACT_MAC_BYTES
    ]


def sign_compact(keyring: Keyring, claims: LinkClaims) -> str:
    """A short token for text messages; `verify` accepts it like a full one."""
    letter = _ACTION_LETTERS.get(claims.action)
    if letter is None or COMPACT_SEPARATOR in claims.case_id:
        return sign(keyring, claims)
    times = _base36(int(claims.expires_at.timestamp()))
    if claims.for_start is not None:
        times += "." + _base36(int(claims.for_start.timestamp()))
        if claims.moves is not None:
            times += "." + _base36(claims.moves)
    payload = f"{claims.case_id}{COMPACT_SEPARATOR}{letter}{times}"
    return f"{payload}{COMPACT_SEPARATOR}{_b64(_compact_mac(keyring.current, payload))}"


def _verify_compact(keyring: Keyring, token: str, now: datetime) -> LinkClaims:
    payload, _, signature = token.rpartition(COMPACT_SEPARATOR)
    case_id, _, fields = payload.rpartition(COMPACT_SEPARATOR)
    try:
        mac = _unb64(signature)
        action = _LETTER_ACTIONS[fields[:1]]
        expires, start, moves, *rest = [*fields[1:].split("."), "", ""]
        if any(rest):
            raise ValueError("too many fields")
        claims = LinkClaims(
            case_id=case_id,
            action=action,
            expires_at=datetime.fromtimestamp(int(expires, 36), UTC),
            for_start=datetime.fromtimestamp(int(start, 36), UTC) if start else None,
            moves=int(moves, 36) if moves else None,
        )
    except (ValueError, KeyError, TypeError, OverflowError, OSError, binascii.Error) as err:
        raise InvalidLink("this link is not valid") from err
    if not case_id or not any(
        hmac.compare_digest(mac, _compact_mac(key, payload)) for key in keyring.accepted(now)
    ):
        raise InvalidLink("this link is not valid")
    return claims


def verify(keyring: Keyring, token: str, now: datetime) -> LinkClaims:
    """The claims of an authentic, unexpired token; InvalidLink (ExpiredLink) otherwise."""
    if COMPACT_SEPARATOR in token:
        claims = _verify_compact(keyring, token, now)
        if claims.expires_at <= now:
            raise ExpiredLink("this link has expired", claims)
        return claims
    return _verify_full(keyring, token, now)


def _verify_full(keyring: Keyring, token: str, now: datetime) -> LinkClaims:
    payload, _, signature = token.partition(".")
    try:
        raw = json.loads(_unb64(payload))
        mac = _unb64(signature)
        key_id = raw["k"]
        if not isinstance(key_id, str):
            raise TypeError("key id")
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeError) as err:
        raise InvalidLink("this link is not valid") from err
    if not keyring.verify(key_id, payload.encode("ascii"), mac, now):
        raise InvalidLink("this link is not valid")
    try:
        claims = LinkClaims(
            case_id=raw["c"],
            action=raw["a"],
            expires_at=datetime.fromtimestamp(raw["e"], UTC),
            for_start=datetime.fromtimestamp(raw["s"], UTC) if "s" in raw else None,
            moves=raw.get("m"),
        )
    except (ValueError, KeyError, TypeError, OverflowError, OSError) as err:
        raise InvalidLink("this link is not valid") from err
    if claims.expires_at <= now:
        raise ExpiredLink("this link has expired", claims)
    return claims


def token_id(token: str) -> str:
    """A short public name of a token (what stored messages keep instead of the token)."""
    return _b64(hashlib.sha256(token.encode()).digest()[:9])


def message_links(
    secret: str,
    base_url: str,
    case_id: str,
    actions: Iterable[str],
    expires_at: datetime,
    for_start: datetime | None = None,
    *,
    moves: int | None = None,
    compact: bool = False,
) -> dict[str, str]:
    """action → the signed URL a message carries (`compact` tokens for SMS)."""
    keyring = Keyring.of(LINKS, secret)
    signer = sign_compact if compact else sign
    return {
        action: f"{base_url}/c/"
        + signer(
            keyring,
            LinkClaims(
                case_id=case_id,
                action=action,
                expires_at=expires_at,
                for_start=for_start,
                moves=moves,
            ),
        )
        for action in actions
    }


def redact(body: str, urls: Mapping[str, str]) -> str:
    """The body with each link replaced by its action and token id: what the ledger keeps."""
    for action, url in urls.items():
        token = url.rsplit("/c/", 1)[-1]
        body = body.replace(url, f"[{action} link, token {token_id(token)}]")
    return body


# What a message read out on the phone says where its text has a link.
READ_OUT = "(ask the client)"


def read_out(body: str, urls: Mapping[str, str]) -> str:
    """The body as the front desk reads it to a phone client: no link, which nobody can read
    out and which would act as the client for whoever clicked it; the client's answer is the
    call task's outcome."""
    for url in urls.values():
        body = body.replace(url, READ_OUT)
    return body


_REDACTED = re.compile(r"\[([a-z_]+) link, token [A-Za-z0-9_-]+\]")


def unredacts_to(stored: str, live: str) -> bool:
    """Whether `live` (a message as its provider got it) is `stored` (the ledger's body, its
    links `redact`ed to their token ids) with each link in its place."""
    pattern, ids = "", []
    at = 0
    for redacted in _REDACTED.finditer(stored):
        pattern += re.escape(stored[at : redacted.start()]) + r"(\S+/c/([^\s/]+))"
        ids.append(redacted.group(0).rsplit(" ", 1)[-1].rstrip("]"))
        at = redacted.end()
    found = re.fullmatch(pattern + re.escape(stored[at:]), live)
    if found is None:
        return False
    tokens = found.groups()[1::2]
    return [token_id(token) for token in tokens] == ids


def redacted_actions(body: str) -> list[str]:
    """The actions of the links `redact` took out of `body`, each once, in order."""
    return list(dict.fromkeys(_REDACTED.findall(body)))


def relink(body: str, urls: Mapping[str, str]) -> str:
    """A body `redact` left, each link put back as its action's fresh one from `urls`
    (`message_links`): a stored message passed on another way keeps links that work."""

    def live(found: re.Match[str]) -> str:
        action = found.group(1)
        if action not in urls:
            return found.group(0)
        # The calendar is served under the link (api/calendar.py), as the text message had it.
        return f"{urls[action]}/calendar.ics" if action == CALENDAR_LINK_ACTION else urls[action]

    return _REDACTED.sub(live, body)
