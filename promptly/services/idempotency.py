"""Idempotency keys: the ids a retried command reuses so it takes effect once.

A caller (the HTTP API's `Idempotency-Key` header, the CLI's `--idempotency-key`) names one
intended command; every Temporal request it makes carries an id derived from that key, the
caller and the target. Temporal drops a second update with an id it has seen in the run and
answers the first outcome instead, so a retry after a timeout or a crash does not apply a
delay twice or send a customer note twice.
"""

from __future__ import annotations

import hashlib
import re
import uuid

from promptly.domain.text_patterns import IDEMPOTENCY_KEY

IDEMPOTENCY_HEADER = "Idempotency-Key"
# Printable ASCII without spaces, as clients generate them (UUIDs, ULIDs, request ids).
_KEY = re.compile(IDEMPOTENCY_KEY.regex)


class InvalidIdempotencyKey(ValueError):
    pass


def check_key(key: str) -> str:
    if not _KEY.match(key):
        raise InvalidIdempotencyKey(
            "1 to 255 printable ASCII characters without spaces, e.g. a UUID"
        )
    return key


def new_key() -> str:
    return str(uuid.uuid4())


def derived_id(key: str, *scope: str) -> str:
    """The id of one command: the key within its caller and target (case, action, route).

    The same key on another case or action is another command, so it gets another id.
    """
    digest = hashlib.sha256("\0".join((check_key(key), *scope)).encode()).hexdigest()
    return f"idem-{digest[:40]}"
