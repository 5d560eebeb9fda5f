"""What a visit costs when it changes: a late change is charged as held, a provider's change
is free, and who may lift a fee (DESIGN.md §1 appointments 7–9). Pure functions."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from promptly.domain.appointments.models import (
    FINAL_APPOINTMENT_STATUSES,
    AppointmentCase,
    AppointmentPolicy,
    AppointmentStatus,
    BillingOutcome,
    CaseFee,
    Fee,
    FeeState,
    PleadedFee,
)
from promptly.domain.calendar import shift_elapsed
from promptly.domain.common import Actor, ActorKind


def charged_from(start: datetime, policy: AppointmentPolicy) -> datetime:
    """The free-change line: a cancellation or a move after it is late (charged)."""
    return shift_elapsed(start, -policy.late_change_within)


def is_late_change(start: datetime, now: datetime, policy: AppointmentPolicy) -> bool:
    """Cancelling or rescheduling at least 24h ahead is free; later is late (SLA 7)."""
    return now > charged_from(start, policy)


def change_terms(start: datetime, now: datetime, policy: AppointmentPolicy) -> dict[str, object]:
    """What a message read out by the desk says of changing the visit (its context's
    `late_now`, `charged_from`): written at `now`, it says a change now is late once the line
    is behind, else from when a change is charged, which stays true whenever it is read."""
    return {
        "late_now": is_late_change(start, now, policy),
        "charged_from": charged_from(start, policy).isoformat(),
    }


class Cancellation(NamedTuple):
    status: AppointmentStatus
    billing: BillingOutcome
    free_reschedule: bool


def cancellation(
    case: AppointmentCase, by: Actor, now: datetime, *, honour_provider_changes: bool = False
) -> Cancellation:
    """What a cancellation means: a provider's is free and offers a new slot; a late one is
    charged as held (until waived); otherwise it is free.

    With `honour_provider_changes`, a client cancelling after the provider ran late (the
    delay notice offers a free change) is not charged either.
    """
    if by.kind is ActorKind.PROVIDER:
        return Cancellation(
            AppointmentStatus.CANCELLED, BillingOutcome.PROVIDER_CANCELLED, free_reschedule=True
        )
    if honour_provider_changes and case.free_reschedule:
        return Cancellation(
            AppointmentStatus.CANCELLED, BillingOutcome.CANCELLED_FREE, free_reschedule=False
        )
    if is_late_change(case.request.start, now, case.policy):
        return Cancellation(
            AppointmentStatus.LATE_CANCELLED, BillingOutcome.LATE_CANCEL, free_reschedule=False
        )
    return Cancellation(
        AppointmentStatus.CANCELLED, BillingOutcome.CANCELLED_FREE, free_reschedule=False
    )


def reschedule_charged(case: AppointmentCase, by: Actor, now: datetime) -> bool:
    """A late reschedule is charged, unless the provider asked for it, the provider's delay or
    cancellation (or a waiver) made changes free, or the visit already ended."""
    return (
        by.kind is not ActorKind.PROVIDER
        and case.status not in FINAL_APPOINTMENT_STATUSES
        and not case.free_reschedule
        and is_late_change(case.request.start, now, case.policy)
    )


# A waiver lifts a fee, and a provider's delay makes the next change free: both are decided
# by a person accountable for the visit, the provider or staff for them. A back-office system
# relays them only with a key that may act as the provider; a client never lifts a fee.
FEE_DECIDERS = frozenset({ActorKind.PROVIDER, ActorKind.STAFF})
# The updates that decide a fee: lift it, or keep it.
FEE_DECISIONS = frozenset({"waive_fee", "fee_stands"})


def actor_refusal(update: str, actor: Actor | None) -> str | None:
    """Why `actor` may not run `update` on any appointment, or None. Nobody named (a raw
    client): the workflow takes the provider, as before."""
    if actor is None:
        return None
    if update in FEE_DECISIONS and actor.kind not in FEE_DECIDERS:
        return (
            f"{update} refused: a fee is decided by the provider or by staff for them, "
            f"not by a {actor.kind.value} actor"
        )
    if update == "report_delay" and actor.kind is ActorKind.SYSTEM:
        return (
            "report_delay refused: a delay is reported by the provider (or staff for them) or "
            "by the client; a back-office key relays a provider's delay as the provider "
            "(acts_as)"
        )
    return None


# The updates that change what a visit costs, where a named provider must be the visit's own.
COST_DECISIONS = FEE_DECISIONS | {"report_delay"}


def party_refusal(update: str, case: AppointmentCase, actor: Actor | None) -> str | None:
    """Why `actor`, naming a provider other than this visit's, may not run `update` (a fee
    decision or a delay), or None. Checked when a command arrives only: histories from before
    the rule hold such decisions and replay them."""
    if update not in COST_DECISIONS or actor is None or actor.kind is not ActorKind.PROVIDER:
        return None
    if actor.id == case.request.provider.id:
        return None
    return f"{update} refused: {actor.id} is not this visit's provider"


# How the provider's task, their email and the timeline name each fee's plea.
PLEA_NAMES = {
    PleadedFee.NO_SHOW: "no-show excuse",
    PleadedFee.LATE_CANCEL: "late-cancellation excuse",
    PleadedFee.LATE_RESCHEDULE: "late-reschedule excuse",
}
FEE_NAMES = {
    PleadedFee.NO_SHOW: "no-show fee",
    PleadedFee.LATE_CANCEL: "late-cancellation fee",
    PleadedFee.LATE_RESCHEDULE: "late-reschedule fee",
}


def pleaded_fee(case: AppointmentCase) -> PleadedFee | None:
    """The fee the case charges that a plea may ask the provider to waive: a no-show's, a
    late cancellation's, or a late reschedule's still pending; None when there is none
    (free, or waived)."""
    if case.status is AppointmentStatus.NO_SHOW and case.billing is BillingOutcome.NO_SHOW:
        return PleadedFee.NO_SHOW
    if (
        case.status is AppointmentStatus.LATE_CANCELLED
        and case.billing is BillingOutcome.LATE_CANCEL
    ):
        return PleadedFee.LATE_CANCEL
    if case.reschedule_fee_pending and case.status not in FINAL_APPOINTMENT_STATUSES:
        return PleadedFee.LATE_RESCHEDULE
    return None


def plea_refusal(case: AppointmentCase) -> str | None:
    """Why a client's plea (`excuse_no_show`) that the status allows cannot reach the
    provider, or None. Judged on arrival only (a validator): histories from before the rule
    hold excuses after a decision, and replay them. A plea while one is with the provider is
    added to that decision (`plea_adds_to_open_decision`), not refused."""
    fee = pleaded_fee(case)
    if case.billing is BillingOutcome.WAIVED:
        return "excuse_no_show refused: the fee is already waived"
    if fee is not None and case.fee_decided is fee:
        return "excuse_no_show refused: the provider has already decided: the fee stands"
    moved = case.status not in FINAL_APPOINTMENT_STATUSES
    if fee is None and moved and case.fee_decided is PleadedFee.LATE_RESCHEDULE:
        return "excuse_no_show refused: the provider has already decided on the late move's fee"
    if fee is None:
        return f"excuse_no_show refused: the appointment ({case.status.value}) has no fee to waive"
    return None


def excuse_pleads(case: AppointmentCase) -> PleadedFee:
    """The fee the case's plea is about (an excuse from before late changes: a no-show's)."""
    return case.excuse_fee or PleadedFee.NO_SHOW


def plea_adds_to_open_decision(case: AppointmentCase) -> bool:
    """A plea received while an earlier one for the same fee is with the provider goes to
    that decision."""
    fee = pleaded_fee(case)
    return (
        case.excuse is not None
        and fee is not None
        and excuse_pleads(case) is fee
        and case.fee_decided is not fee
    )


def plea_task_purpose(fee: PleadedFee, reschedules: int) -> str:
    """The provider's decision task on a plea, keyed by the visit's plan (a no-show's as it
    always was; a late change's by its fee, so that a no-show after a moved visit's plea has
    its own)."""
    if fee is PleadedFee.NO_SHOW:
        return f"excuse/{reschedules}"
    return f"excuse/{reschedules}/{fee.value}"


def plea_decision_due(case: AppointmentCase, closes_at: datetime, now: datetime) -> datetime:
    """When the provider's decision on a plea is due: a final case's (a no-show, a late
    cancellation) at its close (`closes_at`); a moved visit's late fee within the window a
    fee stays open for a decision, from the plea."""
    if case.status in FINAL_APPOINTMENT_STATUSES:
        return closes_at
    return shift_elapsed(now, case.policy.fee_decision_window)


def plea_task_details(case: AppointmentCase, fee: PleadedFee, excuse: str, visit: str) -> str:
    """The provider's decision task: which visit (`visit`, readable), the plea, the choice."""
    request = case.request
    when = f"moved late to {visit}" if fee is PleadedFee.LATE_RESCHEDULE else f"on {visit}"
    return (
        f"{request.service} {when}. Excuse: {excuse}. Waive the fee (force majeure) with "
        f"waive_fee, or let the {FEE_NAMES[fee]} stand; a waiver's reason is sent to the client."
    )


def plea_added(excuse: str, added: str, at: str) -> tuple[str, str]:
    """A further plea for the open decision: the case's excuse with it, and the line the
    provider's task gains."""
    return f"{excuse}\n{added}", f"Added by the client ({at}): {added}"


# The fee each plea is against, as the billing record names it.
FEE_OF_PLEA = {
    PleadedFee.NO_SHOW: Fee.NO_SHOW,
    PleadedFee.LATE_CANCEL: Fee.LATE_CANCELLATION,
    PleadedFee.LATE_RESCHEDULE: Fee.LATE_RESCHEDULE,
}


def fee_of(case: AppointmentCase, outcome: BillingOutcome) -> Fee | None:
    """The fee a billing decision charges (a no-show, a late cancellation), lifts (a waiver)
    or keeps (a fee that stands), judged on the case as it stands before the decision; None
    for a decision that charges no fee. A late reschedule's fee, whose outcome is recorded as
    a late cancellation's, is named by its caller."""
    if outcome is BillingOutcome.NO_SHOW:
        return Fee.NO_SHOW
    if outcome is BillingOutcome.LATE_CANCEL:
        return Fee.LATE_CANCELLATION
    if outcome in (BillingOutcome.WAIVED, BillingOutcome.FEE_STANDS):
        plea = pleaded_fee(case)
        return FEE_OF_PLEA[plea] if plea is not None else None
    return None


def case_fee(case: AppointmentCase, fee: Fee, outcome: BillingOutcome) -> CaseFee:
    """The fee as the case and the billing record state it: a late change or a no-show is
    charged as held, so it costs the visit's price (as the messages quote it)."""
    price = case.request.price
    return CaseFee(
        fee=fee,
        state=FeeState.WAIVED if outcome is BillingOutcome.WAIVED else FeeState.CHARGED,
        amount=price.amount if price else None,
        currency=price.currency if price else None,
    )


def standing_fee(case: AppointmentCase) -> CaseFee | None:
    """The fee the case view shows: the latest decided, or for a case from before the case
    kept it, the fee it still charges (a pending late reschedule's, a no-show's)."""
    if case.fee is not None:
        return case.fee
    plea = pleaded_fee(case)
    if plea is None:
        return None
    return case_fee(case, FEE_OF_PLEA[plea], BillingOutcome.NO_SHOW)
