"""How bench/chaos.py counts: lost, duplicated, moot and sent after a change, recovery; which
ledger row each SMS the Twilio fake accepted belongs to."""

from __future__ import annotations

from bench.chaos_metrics import (
    Change,
    Delivery,
    FailedSend,
    LedgerRow,
    SmsAccepted,
    SmsLedgerRow,
    StaffTaskRow,
    TimerLateness,
    compute,
    lateness_summary,
    recovery_after_kills,
    sms_deliveries,
)

CASE = "appointment-A"


def row(step: str, created: float, status: str = "sent", case: str = CASE) -> LedgerRow:
    return LedgerRow(f"{case}/{step}/0", case, step, status, created)


def ok(step: str, at: float, case: str = CASE) -> Delivery:
    return Delivery(f"{case}/{step}/0", 202, at)


def test_delivered_lost_and_handed_to_staff() -> None:
    out = compute(
        ledger=[
            row("confirmation", 0, "failed"),
            row("reminder", 1, "pending"),
            row("no-show", 2),
        ],
        failed_sends=[FailedSend(CASE, "confirmation"), FailedSend(CASE, "survey")],
        tasks=[StaffTaskRow(CASE, "send_confirmation_manually", "{}")],
        deliveries=[Delivery(f"{CASE}/no-show/0", 503, 2.5), ok("no-show", 3)],
        changes=[],
        kills=[],
        fault_windows=[],
    )
    # confirmation: a task; reminder: nobody; survey: failed before any ledger row, nobody.
    assert (out.expected, out.delivered, out.handed_to_staff, out.lost) == (4, 1, 1, 2)
    assert out.lost_by_template == {"reminder": 1, "survey": 1}
    assert out.duplicated == 0


def test_raw_duplicates_count_every_extra_acceptance() -> None:
    out = compute(
        ledger=[row("reminder", 0)],
        failed_sends=[],
        tasks=[],
        deliveries=[ok("reminder", 1), ok("reminder", 30), ok("reminder", 60)],
        changes=[],
        kills=[],
        fault_windows=[],
    )
    assert (out.delivered, out.duplicated) == (1, 2)
    assert out.duplicated_by_template == {"reminder": 2}


def test_a_message_for_a_replaced_state_is_moot_or_sent_after_the_change() -> None:
    change = Change(CASE, requested=10, answered=12)
    out = compute(
        ledger=[
            row("confirmation", 1),  # delivered before the change: fine
            row("reminder", 5),  # delivered after the change was answered: too late
            row("provider_booking", 6, "pending"),  # never delivered: moot, not lost
            row("cancellation", 11),  # made by the change itself
        ],
        failed_sends=[],
        tasks=[],
        deliveries=[
            ok("confirmation", 2),
            ok("reminder", 15),
            ok("cancellation", 11.5),
        ],
        changes=[change],
        kills=[],
        fault_windows=[],
    )
    assert out.sent_after_change == 1
    assert out.moot == 2
    assert (out.expected, out.delivered, out.lost) == (2, 2, 0)


def test_recovery_runs_from_the_first_kill_during_a_send_outside_other_faults() -> None:
    out = compute(
        ledger=[row("reminder", 0), row("survey", 100), row("no-show", 200)],
        failed_sends=[],
        tasks=[],
        deliveries=[ok("reminder", 40), ok("survey", 150), ok("no-show", 203)],
        changes=[],
        kills=[5, 20, 110, 201],
        fault_windows=[(120, 140)],  # the survey waited out a SendGrid outage: not counted
    )
    assert out.max_send_recovery_s == 35.0


def test_recovery_is_the_latest_timer_acted_on_after_each_kill_outside_outages() -> None:
    timers = [
        TimerLateness(fired=100.0, acted=100.01),  # before any kill: on time
        TimerLateness(fired=205.0, acted=214.0),  # after the kill at 200: 9 s late
        TimerLateness(fired=206.0, acted=214.5),  # 8.5 s late; the worst of that kill is 9
        TimerLateness(fired=310.0, acted=330.0),  # kill at 300 inside the outage: left out
        TimerLateness(fired=420.0, acted=432.0),  # kill at 400, 40 s after the outage: out
        TimerLateness(fired=505.0, acted=517.0),  # kill at 500: 12 s late, the largest
    ]
    outages = [(290.0, 360.0)]
    assert recovery_after_kills(timers, [200.0, 300.0, 400.0, 500.0], outages) == 12.0
    assert recovery_after_kills(timers, [600.0], outages) is None  # nothing fell due after
    summary = lateness_summary(timers)
    assert summary["timers"] == 6 and summary["timer_late_max_s"] == 20.0


def test_a_send_the_engine_cancelled_for_a_change_is_moot_even_if_it_began_after_the_change() -> (
    None
):
    # The cancel was sent at 10 while the worker was dead; the new worker ran the alert's
    # activity (its ledger row written at 14) before it applied the cancel, which then
    # cancelled the send: the engine's own cancellation, not a lost message.
    cancelled = "supervisor_alert to supervisor via email cancelled: the case changed"
    out = compute(
        ledger=[
            LedgerRow(
                f"{CASE}/alert:provider_ack_missing/r0",
                CASE,
                "supervisor_alert",
                "abandoned",
                14,
                cancelled,
            ),
            # Abandoned for a failure, nobody told: still lost.
            LedgerRow(
                f"{CASE}/reminder/r0",
                CASE,
                "reminder",
                "abandoned",
                15,
                "reminder to client via email failed: SendGrid answered 503",
            ),
        ],
        failed_sends=[],
        tasks=[],
        deliveries=[],
        changes=[Change(CASE, requested=10, answered=20)],
        kills=[],
        fault_windows=[],
    )
    assert (out.moot, out.expected, out.lost) == (1, 1, 1)
    assert out.lost_keys == [f"{CASE}/reminder/r0"]
    # A cancelled send the channel accepted anyway (the cancellation came too late) is no
    # moot one: it counts as delivered, or as sent after the change when made before it.
    sent_anyway = compute(
        ledger=[LedgerRow(f"{CASE}/reminder/r0", CASE, "reminder", "abandoned", 14, cancelled)],
        failed_sends=[],
        tasks=[],
        deliveries=[Delivery(f"{CASE}/reminder/r0", 202, 16)],
        changes=[Change(CASE, requested=10, answered=20)],
        kills=[],
        fault_windows=[],
    )
    assert (sent_anyway.moot, sent_anyway.delivered) == (0, 1)


def test_alerts_sent_beside_the_plan_count_as_supervisor_alerts() -> None:
    key = f"{CASE}/alert:unconfirmed/r0"
    out = compute(
        ledger=[LedgerRow(key, CASE, "supervisor_alert", "sent", 0)],
        failed_sends=[],
        tasks=[],
        deliveries=[Delivery(key, 202, 1), Delivery(key, 202, 40)],
        changes=[],
        kills=[],
        fault_windows=[],
    )
    assert out.duplicated_by_template == {"supervisor_alert": 1}


def test_a_kill_just_before_the_database_stops_is_left_out_of_recovery() -> None:
    # Killed at 100, PostgreSQL down 104–124: the next worker cannot pass its migrations
    # until 124 and starts polling at 129; a timer due at 105 is acted on at 130. That wait is
    # the outage's, not the kill's.
    outages = [(104.0, 124.0)]
    late = TimerLateness(fired=105.0, acted=130.0)
    assert recovery_after_kills([late], [100.0], outages) is None
    # Killed 20 s before the stop: restarted long before it, so counted.
    early = TimerLateness(fired=85.0, acted=92.0)
    assert recovery_after_kills([early], [84.0], outages) == 7.0


PHONE = "+48600000007"
CONFIRMATION_SMS = "Consultation, Tue 10:00, Room 1. Reply YES to confirm. {link} STOP to opt out"
LIVE = CONFIRMATION_SMS.format(link="http://127.0.0.1:8000/c/appointment-A~cabc~Zm9v")
STORED = CONFIRMATION_SMS.format(link="[confirm link, token q1w2e3]")


def test_an_sms_is_its_rows_by_sid_and_an_unrecorded_copy_by_number_and_text() -> None:
    # The worker died after Twilio took SM1; the retry texted again (SM2) and recorded it.
    key = f"{CASE}/confirmation/0"
    reminder = f"{CASE}/reminder/r0"
    texts = [
        SmsLedgerRow(key, PHONE, STORED, "SM2"),
        SmsLedgerRow(reminder, PHONE, "Reminder: Consultation.", "SM3"),
    ]
    accepted = [
        SmsAccepted("SM1", PHONE, LIVE, 10.0),
        SmsAccepted("SM2", PHONE, LIVE, 16.0),
        SmsAccepted("SM3", PHONE, "Reminder: Consultation.", 20.0),
        # The same text to another number is another client's.
        SmsAccepted("SM4", "+48600000008", LIVE, 21.0),
    ]
    deliveries, unmatched = sms_deliveries(texts, accepted)
    assert deliveries == [Delivery(key, 201, 10.0), Delivery(key, 201, 16.0)] + [
        Delivery(reminder, 201, 20.0)
    ]
    assert [sms.sid for sms in unmatched] == ["SM4"]
    out = compute(
        ledger=[row("confirmation", 0), LedgerRow(reminder, CASE, "reminder", "sent", 1)],
        failed_sends=[],
        tasks=[],
        deliveries=deliveries,
        changes=[],
        kills=[],
        fault_windows=[],
    )
    assert (out.expected, out.delivered, out.duplicated) == (2, 2, 1)
    assert out.duplicated_keys == {key: 2}


def test_an_sms_its_row_never_recorded_is_found_by_its_text_without_the_links() -> None:
    # Twilio took it, the worker died before the ledger said so, and the case then cancelled
    # the send: the row stays without a SID, its text with the link redacted.
    key = f"{CASE}/confirmation/0"
    texts = [
        SmsLedgerRow(f"{CASE}/cancellation/0", PHONE, "Cancelled: Consultation.", "SM9"),
        SmsLedgerRow(key, PHONE, STORED, None),
    ]
    deliveries, unmatched = sms_deliveries(
        texts, [SmsAccepted("SM1", PHONE, LIVE, 5.0), SmsAccepted("SM2", PHONE, LIVE, 9.0)]
    )
    assert deliveries == [Delivery(key, 201, 5.0), Delivery(key, 201, 9.0)]
    assert unmatched == []


def test_identical_texts_of_two_rows_go_each_to_the_row_recorded_next() -> None:
    first, second = f"{CASE}/delay_notice/0", f"{CASE}/delay_notice/1"
    texts = [
        SmsLedgerRow(first, PHONE, "Running late.", "SM2"),
        SmsLedgerRow(second, PHONE, "Running late.", "SM4"),
    ]
    accepted = [
        SmsAccepted("SM1", PHONE, "Running late.", 1.0),  # unrecorded: the first's retry
        SmsAccepted("SM2", PHONE, "Running late.", 2.0),
        SmsAccepted("SM3", PHONE, "Running late.", 3.0),  # unrecorded: the second's retry
        SmsAccepted("SM4", PHONE, "Running late.", 4.0),
        SmsAccepted("SM5", PHONE, "Running late.", 5.0),  # after both: the last one's
    ]
    deliveries, _ = sms_deliveries(texts, accepted)
    assert [d.key for d in deliveries] == [first, first, second, second, second]
