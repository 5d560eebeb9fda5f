"""ApplicationError types: what went wrong, as a constant both sides can match on; and a
rule's refusal with the code that says which conflict it is."""

from __future__ import annotations

from enum import StrEnum

INVALID_BOOKING = "InvalidBooking"
INVALID_RECIPIENT = "InvalidRecipient"
DELIVERY_REJECTED = "DeliveryRejected"
DELIVERY_UNAVAILABLE = "DeliveryUnavailable"
UNKNOWN_TEMPLATE = "UnknownTemplate"
# A rule refused the update (the API's 409): details[0] is its `RefusalCode`.
TRANSITION_REFUSED = "TransitionRefused"
# The run has not opened the case yet (a booking still being made): an update waits for it, a
# status query is refused with this, and the same query a moment later is answered (the API's
# 409 `conflict.case_opening` with `Retry-After`). A failed query carries its message alone,
# which ends so.
CASE_OPENING = "CaseOpening"
CASE_OPENING_ENDS = "; try again in a moment"
# Bad input only the case can judge (a root cause off its list): details[0] names the field,
# so the API answers 422 with it, like any other bad input.
INVALID_FIELD = "InvalidField"
# An inquiry promoted under an id that another customer's complaint already has.
COMPLAINT_ID_TAKEN = "ComplaintIdTaken"
# An update decided on an older state of the case (its `expected_version`): the API's 412.
PRECONDITION_FAILED = "PreconditionFailed"
# Who acts may not run this update (a fee decided by the client, a delay relayed by a
# back-office key not acting as the provider): the API's 403, as for any role refusal.
ACTOR_REFUSED = "ActorRefused"
# An update the case kind's rules have no entry for (registered, but missing from `_ALLOWED`):
# a code error, never the case's refusal, so the API answers 500, not a 409 (`UnknownUpdate`).
UNKNOWN_UPDATE = "UnknownUpdate"


class UnknownUpdate(LookupError):  # noqa: N818 - its name is the ApplicationError type above
    """The case kind's rules do not know this update: add its entry to the rules' table."""

    def __init__(self, update: str, table: str) -> None:
        super().__init__(
            f"{update} has no entry in {table}: every update of the case needs the statuses "
            "that allow it (docs/extending.md, a new update)"
        )


class RefusalCode(StrEnum):
    """Which conflict a rule's refusal is, for a program (the API's 409 `code`, one of its
    `ErrorCode`s): it travels with the refusal, whatever its words."""

    CONFLICT = "conflict"  # any other refusal: the text says which
    ALREADY_ENDED = "conflict.already_ended"  # the case has ended (cancelled, closed, answered...)
    SAME_TIME = "conflict.same_time"  # a reschedule to the time the visit already has


class Refusal(str):
    """A rule's refusal: the text a person reads, and the `code` a program switches on. Rules
    return it where a refusal is a conflict of its own; any other refusal is a plain `str`
    (code `conflict`)."""

    code: RefusalCode

    def __new__(cls, text: str, code: RefusalCode) -> Refusal:
        refusal = super().__new__(cls, text)
        refusal.code = code
        return refusal


def refusal_code(refusal: str) -> RefusalCode:
    """The code a refusal carries: its own, or `conflict` for a plain text."""
    return refusal.code if isinstance(refusal, Refusal) else RefusalCode.CONFLICT
