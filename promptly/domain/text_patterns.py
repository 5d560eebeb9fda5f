"""The text patterns the edges check (ids, phone numbers, keys), each with what it means to a
person: a refusal (a 422, a CLI error) says the meaning, never the regular expression, which
stays in the OpenAPI schema for machines.
"""

from __future__ import annotations

from typing import NamedTuple


class TextPattern(NamedTuple):
    regex: str
    meaning: str  # completes "must be …"


# A business id (an appointment's, a client's), unanchored to compose into other patterns.
ID_BODY = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
_ID_WORDS = "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"

BUSINESS_ID = TextPattern(rf"^{ID_BODY}$", f"{_ID_WORDS} (e.g. A-1001)")
WORKFLOW_ID = TextPattern(
    rf"^[a-z]+-{ID_BODY}$",
    "a workflow id: the case kind, '-' and the case's id (appointment-A-1001)",
)
# What a compliance reader may look a case up by: its id, or its workflow's.
CASE_REFERENCE = TextPattern(
    rf"^([a-z]+-){{0,2}}{ID_BODY}$",
    f"a case's id ({_ID_WORDS}) or its workflow id (e.g. appointment-A-1001)",
)
PHONE = TextPattern(
    r"^\+[1-9][0-9]{6,14}$",
    "an international number: '+', the country code and the number, 7 to 15 digits in all, "
    "without spaces (e.g. +48600100200)",
)
DEPARTMENT_ID = TextPattern(
    r"^[a-z0-9][a-z0-9_-]{0,63}$",
    "1 to 64 lower-case letters, digits, '_' or '-', starting with a letter or digit "
    "(e.g. billing)",
)
ROOT_CAUSE = TextPattern(
    r"^[A-Za-z0-9_-]{1,64}$", "1 to 64 letters, digits, '_' or '-' (e.g. billing_error)"
)
STAFF_ROLE = TextPattern(r"^[a-z_]{1,32}$", "a role: lower-case letters and '_' (e.g. front_desk)")
IDEMPOTENCY_KEY = TextPattern(
    r"^[\x21-\x7e]{1,255}$",
    "1 to 255 printable ASCII characters without spaces (a UUID will do)",
)
NO_NUL = TextPattern(r"^[^\x00]*$", "text without a NUL character")

MEANINGS = {
    pattern.regex: pattern.meaning
    for pattern in (
        BUSINESS_ID,
        WORKFLOW_ID,
        CASE_REFERENCE,
        PHONE,
        DEPARTMENT_ID,
        ROOT_CAUSE,
        STAFF_ROLE,
        IDEMPOTENCY_KEY,
        NO_NUL,
    )
}
