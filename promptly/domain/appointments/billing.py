"""What an appointment means for billing: the slot's outcome, the fees it can charge and where
they stand, the billing record, and what the client record says about the next booking."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import AwareDatetime

from promptly.domain.common import Actor, Model


class BillingOutcome(StrEnum):
    """What the visit slot means for billing."""

    HELD = "held"
    LATE_CANCEL = "late_cancel"
    NO_SHOW = "no_show"
    WAIVED = "waived"
    CANCELLED_FREE = "cancelled_free"
    PROVIDER_CANCELLED = "provider_cancelled"
    # A decision, not a state of the slot: the fee charged before it (a no-show, a late change)
    # stands after the client's excuse. Written to the billing record only, never the case's.
    FEE_STANDS = "fee_stands"


class Fee(StrEnum):
    """A fee a visit can charge, as the billing record and the case view name it."""

    NO_SHOW = "no_show"
    LATE_CANCELLATION = "late_cancellation"
    LATE_RESCHEDULE = "late_reschedule"


class FeeState(StrEnum):
    """Where the case's latest fee stands: charged (until waived; a fee that stood stays
    charged) or waived."""

    CHARGED = "charged"
    WAIVED = "waived"


class CaseFee(Model):
    """The case's latest fee and what it costs: the visit's price (a late change is charged as
    held); amount and currency None when the booking gave no price."""

    fee: Fee
    state: FeeState
    amount: Decimal | None = None
    currency: str | None = None


class PleadedFee(StrEnum):
    """The fee a client's plea (an excuse: why they could not come, or had to change the
    visit late) asks the provider to waive."""

    NO_SHOW = "no_show"
    LATE_CANCEL = "late_cancel"
    LATE_RESCHEDULE = "late_reschedule"


class BillingRecord(Model):
    idempotency_key: str
    case_id: str
    appointment_id: str
    client_id: str
    outcome: BillingOutcome
    decided_by: Actor
    reason: str
    decided_at: AwareDatetime
    # The fee charged, lifted (a waiver) or kept (fee_stands), what it costs and whose visit
    # it is; None on a decision that charges no fee, and in histories from before them.
    fee: Fee | None = None
    amount: Decimal | None = None
    currency: str | None = None
    provider_id: str | None = None


class ClientStandingRequest(Model):
    client_id: str


class ClientStanding(Model):
    """What the client record says about a new booking for that client."""

    prepayment_required: bool = False
    # The no-show case that made the next visit prepaid.
    prepayment_case_id: str | None = None
