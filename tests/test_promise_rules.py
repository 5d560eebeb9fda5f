"""The promise ledger's rules (promptly/domain/promises.py): pure, `now` passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from promptly.domain import promises
from promptly.domain.common import (
    SYSTEM,
    Actor,
    ActorKind,
    PromiseKind,
    PromiseRecord,
    PromiseVerdict,
)

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
H = timedelta(hours=1)
PROVIDER = Actor(kind=ActorKind.PROVIDER, id="P-3")


def pending(kind: PromiseKind = PromiseKind.CONFIRMATION) -> PromiseRecord:
    return promises.made(kind, T0, T0 + 24 * H)


def test_met_by_the_due_time_is_kept_and_after_it_broken_as_late() -> None:
    kept = promises.met(pending(), T0 + 24 * H)
    assert kept.verdict is PromiseVerdict.KEPT and kept.met_at == T0 + 24 * H
    late = promises.met(pending(), T0 + 26 * H, cause_if_late="no_room_before_free_cancellation")
    assert late.verdict is PromiseVerdict.BROKEN
    assert late.cause == "met 2h 00m after it was due (no_room_before_free_cancellation)"
    assert late.actor == SYSTEM


def test_a_broken_or_waived_promise_stays_so() -> None:
    broken = promises.broken(pending(), T0 + 25 * H, "not delivered", SYSTEM)
    assert promises.met(broken, T0 + 30 * H) == broken
    assert promises.renewed(broken, T0 + 30 * H, T0 + 60 * H) == broken
    assert promises.not_applicable(broken, T0 + 30 * H, "cancelled") == broken
    waived = promises.waived(promises.met(pending(PromiseKind.NO_SHOW), T0), T0, "flood", PROVIDER)
    assert waived.verdict is PromiseVerdict.WAIVED and waived.actor == PROVIDER
    assert promises.renewed(waived, T0, T0 + H) == waived


def test_renewed_makes_a_kept_promise_pending_for_its_new_time() -> None:
    kept = promises.met(pending(PromiseKind.REMINDER), T0 + H)
    again = promises.renewed(kept, T0 + 2 * H, T0 + 50 * H)
    assert again.verdict is PromiseVerdict.PENDING and again.met_at is None
    assert again.due_at == T0 + 50 * H and again.revision > kept.revision


def test_recurring_updates_stay_pending_while_on_time_break_when_late_keep_at_close() -> None:
    updates = promises.made(PromiseKind.COMPLAINT_UPDATES, T0, T0 + 24 * H)
    on_time = promises.update_given(updates, T0 + 24 * H, sent=True)
    assert on_time.verdict is PromiseVerdict.PENDING and on_time.met_at == T0 + 24 * H
    closed = promises.closed(on_time, T0 + 30 * H, "closed")
    assert closed.verdict is PromiseVerdict.KEPT
    late = promises.update_given(updates, T0 + 27 * H, sent=True)
    assert late.verdict is PromiseVerdict.BROKEN and late.cause == "status update 3h 00m late"
    failed = promises.update_given(updates, T0 + H, sent=False, reason="bounced")
    assert failed.cause == "status update not delivered: bounced"
    # Paused (a proposal waits for the customer): nothing due; closing decides it, due then.
    paused = promises.due_moved(on_time, None)
    closed_paused = promises.closed(paused, T0 + 40 * H, "closed")
    assert closed_paused.verdict is PromiseVerdict.KEPT
    assert closed_paused.due_at == closed_paused.decided_at == T0 + 40 * H


def test_a_pending_one_off_promise_no_longer_applies_when_the_case_ends() -> None:
    ended = promises.closed(pending(PromiseKind.REMINDER), T0, "the case ended Cancelled")
    assert ended.verdict is PromiseVerdict.NOT_APPLICABLE
    assert ended.cause == "the case ended Cancelled"


def test_due_moved_changes_only_pending_promises() -> None:
    moved = promises.due_moved(pending(), T0 + 30 * H)
    assert moved.due_at == T0 + 30 * H
    kept = promises.met(pending(), T0)
    assert promises.due_moved(kept, T0 + 30 * H) == kept
