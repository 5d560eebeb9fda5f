"""Every patch of the case workflows, and the baseline that answers for all of them.

A running case replays its history on the code deployed today, so a change to the commands a
workflow issues is asked with `workflow.patched(<id>)`: a case whose history carries the
marker takes the new path, one started before it keeps the old one (docs/messages-and-deploys.md).

Each patch costs a new case two events: the marker, and the `TemporalChangeVersion`
search-attribute upsert the SDK writes beside it: an appointment started today would carry
four of each. `BASELINE` is asked first, in every case workflow's `@workflow.init`:
a case started since it records that one marker, and `since(<id>)` answers True for every
patch below without asking it. A case from before the baseline answers False to it and asks
each patch where it always did, so its history replays unchanged.

A patch added after the baseline is asked with `workflow.patched` itself, never `since`:
cases started on the baseline's code do not have it.
"""

from __future__ import annotations

from temporalio import workflow

# Appointments: the next call attempt closes the previous call task, left without an
# outcome, as `no_outcome` (before it, the superseded task stayed open in the front desk's list).
CLOSE_SUPERSEDED_CALL_TASK = "close-superseded-call-task"
# Appointments: messages run beside the plan (started, supervised, cancelled when moot),
# every transition is decided before its awaits, and an ended case closes its staff tasks.
# Cases started before it keep awaiting their messages in line until they end.
BESIDE_THE_PLAN = "messages-beside-the-plan"
# Appointments: a booking reads the client record first; after an unwaived no-show it is prepaid.
PREPAYMENT_AFTER_NO_SHOW = "prepayment-after-no-show"
# Complaints, inquiries and surveys: messages go beside the plan, as BESIDE_THE_PLAN.
CASE_SENDS_BESIDE = "case-messages-beside-the-plan"
# Complaints: a 48 calendar-hour ceiling on every route, bounded holds, the customer told of
# every escalation, and failed staff messages turned into tasks.
PROCEDURE_RULES = "complaint-procedure-rules"
# Complaints: a hold and a reopen cancel the messages they supersede (cases started before
# it let them go out, as they did when they started).
MOOT_ON_HOLD_AND_REOPEN = "complaint-moot-on-hold-and-reopen"
# Every case keeps a promise ledger, saved with the case (before it, none).
PROMISE_LEDGER = "promise-ledger"
# Appointments and complaints: an update stores the case before it answers. Asked at the
# end of an update, so a case running when it was deployed takes it up with its next update.
RECORD_BEFORE_ANSWER = "record-before-answer"

# A case started since this marker has every patch above.
BASELINE = "baseline-2026-12"

# Patches since the baseline, asked with `workflow.patched` itself.

# Every case: a change that makes a pass-it-on task moot (the client confirms, the visit is
# moved, the inquiry is answered) also clears the flag only that task answered. A close that
# happened before it replays keeping the flag.
MOOT_TASKS_CLEAR_FLAGS = "moot-tasks-clear-flags"
# Appointments: a provider without email is handed their booking notice by the front desk
# (a task and a flag, as for a notice that could not go out). Before it, a note said staff
# would pass it on, and nobody was asked to.
PROVIDER_WITHOUT_EMAIL_BY_HAND = "provider-without-email-by-hand"
# Appointments: the provider's acknowledgement cancels their booking notice still retrying and
# closes the task to pass it on (its flag goes). Before it, both went on after the acknowledgement.
ACKNOWLEDGED_NOTICE_MOOT = "acknowledged-notice-moot"
# Appointments: a reschedule notes the follow-up calls planned for the new time (their rule,
# first call and the free-cancellation line), as the booking does. Before it, the timeline
# kept the booking's plan, which the move had replaced.
RESCHEDULE_NOTES_CALL_PLAN = "reschedule-notes-call-plan"
# Complaints: a hold tells the customer what the case waits for and until when at most.
# Before it, the customer heard nothing until the hold ended, though the last update had
# promised news within 24 hours.
HOLD_TELLS_CUSTOMER = "hold-tells-customer"

# Appointments: a provider's decision on a no-show excuse made with `waive_fee` or `fee_stands`
# itself closes the decision task it answers. Before it, the task stayed open, and completing
# it later could tell the client the opposite of what they had been told.
EXCUSE_DECISION_CLOSES_TASK = "excuse-decision-closes-task"
# Appointments: the last follow-up call without an outcome is treated as no answer when the
# client is found unconfirmed, as the earlier ones are when the next attempt comes: its task
# closes (`no_outcome`). Before it, the task stayed open after the supervisor was alerted.
LAST_CALL_CLOSED_WHEN_UNCONFIRMED = "last-call-closed-when-unconfirmed"
# Appointments: a send whose failure is still being recorded when a change (a cancel, a
# reschedule, a confirmation) makes it moot is not handed to the front desk: no flag, no
# task to pass on a message for a visit that no longer stands. Asked only in that race;
# before it, the task was written after the change had closed the case's tasks.
MOOT_FAILURE_NOT_HANDED_ON = "moot-failure-not-handed-on"
# Appointments: a fee that stands (`fee_stands`) is written to the billing record as the fee
# waivers are, with who decided and through which key. Before it, only the timeline said so.
FEE_STANDS_ON_RECORD = "fee-stands-on-record"
# Every case: its flags (`needs_attention`) are published in the `NeedsAttention` search
# attribute whenever the case is stored with flags other than those published, so ops can list
# the cases staff must act on. Asked at the first such save (a case never flagged records no
# marker); before it, the flags were in PostgreSQL and the status query only.
NEEDS_ATTENTION_ATTRIBUTE = "needs-attention-attribute"
# Appointments: a waiver of a no-show's or a late cancellation's fee closes the calls still
# open to read out that the visit is charged (its cancellation, its no-show notice, a fee that
# stood); the waiver's own read-out stays. Before it, the desk kept both, and a client it could
# not reach was emailed that the fee applied after it had been waived.
WAIVER_CLOSES_FEE_READ_OUTS = "waiver-closes-fee-read-outs"
# Appointments: a follow-up call that ends `reached_rescheduled` confirms the new time (the
# client agreed it with the desk): status Confirmed, no follow-up calls for it; the client is
# still told the new time. Before it, the moved visit was Booked and the calls began again.
PHONE_RESCHEDULE_CONFIRMED = "phone-reschedule-confirmed"
# Appointments: a follow-up call that reaches a wrong number opens the desk's task to find the
# right one and emails the client the visit (with its links) when an email is on file, as a
# read-out's wrong number does. Before it, only the supervisor was alerted.
WRONG_NUMBER_FOLLOWED_UP = "wrong-number-followed-up"
# Appointments: a cancellation by the client, the desk or the system emails the provider
# (`provider_cancellation`: the visit, who cancelled, whether the fee applies). Before it, only
# the client was told, and the provider learned of it from the schedule.
PROVIDER_TOLD_OF_CANCELLATION = "provider-told-of-cancellation"
# Appointments: a no-show excuse emails the provider that their decision waits
# (`provider_decision`: the excuse, the fee, the time the decision task is due). Before it,
# the task was opened in their list and nobody told them.
PROVIDER_TOLD_OF_EXCUSE = "provider-told-of-excuse"
# Appointments: a phone client who agrees a new time on the confirmation call was told it
# there: the new time's confirmation is not read out to them again (no second call task), and
# its promise is met by that call. A move that is charged is still read out, the fee with it.
# Before it, the desk was asked to call the client back about the time just agreed.
PHONE_AGREED_TIME_NOT_READ_OUT = "phone-agreed-time-not-read-out"
# Appointments: the provider's decision on a no-show excuse (`waive_fee`, `fee_stands`) cancels
# the `provider_decision` email still on its way and closes the desk's task to pass it on (its
# flag goes). Asked only when either is there; before it, the email went out (up to an hour
# late) asking for a decision already made.
DECISION_MAKES_ITS_REQUEST_MOOT = "decision-makes-its-request-moot"
# Complaints: news waiting for the end of the customer's quiet hours is replaced by a newer
# message of the same kind decided before they end (a second escalation in one night): the
# customer hears once, at 08:00, the case as it stands. Asked only when one waits; before it,
# both went out at 08:00, the first already stale.
NEWER_NEWS_REPLACES_WAITING = "newer-news-replaces-waiting"
# Appointments: a phone client's reminder due while the desk's call to read out their
# confirmation is still open waits for that call (no second call task for the client): the
# desk's outcome lifts the hold; a call that reached the client was their reminder (none is
# read out), one that did not lets the reminder go as a call of its own; at the latest it goes
# 2h before its window ends. Asked when a reminder is due with that call open; before it, both
# calls were in the desk's list at once.
REMINDER_WAITS_FOR_CONFIRMATION_CALL = "reminder-waits-for-confirmation-call"
# Appointments: a phone client's follow-up call attempt due while the desk's call to read out
# their confirmation is still open waits for that call (no second call task for the client):
# the call, once recorded, was that attempt (its outcome noted, the next one planned after
# it); at the latest the attempt goes when one after that call would be due. Asked when an
# attempt is due with that call open; before it, both calls were in the desk's list at once.
FOLLOW_UP_WAITS_FOR_CONFIRMATION_CALL = "follow-up-waits-for-confirmation-call"
# Appointments: a wrong number on the desk's call to read out a phone client's confirmation
# stops the follow-up calls to that number as a follow-up attempt's wrong number does: the
# client is unconfirmed, the supervisor alerted, a client with an email gets the visit there
# (the read-out's receipt already opened the desk's task to find the right number). Asked when
# such a call ends on a wrong number while the client is still to be called; before it, the
# follow-up attempts went on calling that number.
CONFIRMATION_CALL_WRONG_NUMBER_STOPS_CALLS = "confirmation-call-wrong-number-stops-calls"
# Appointments: a phone client's follow-up call attempt due while the desk's call to read out
# their reminder (which asks them to confirm) is still open is that call: counted as made, the
# next one planned after it, no call task of its own; a confirmation given on the call ends
# the calls. Asked when an attempt is due with that call open; before it, the attempt's call
# and the reminder's were in the desk's list at once.
REMINDER_CALL_IS_THE_FOLLOW_UP_ATTEMPT = "reminder-call-is-the-follow-up-attempt"
# Appointments: a phone client's reminder due while their number is known to be wrong (a call
# ended `wrong_number`, flagged `wrong phone number`, no call reaching them since) is not read
# out to that number: it goes by email, and without an email the channel refuses it, so the
# desk is asked to pass it on by hand once they have the right number. Asked when such a
# reminder is due; before it, the desk got a call task to read it out to the wrong number.
REMINDER_AFTER_WRONG_NUMBER_IN_WRITING = "reminder-after-wrong-number-in-writing"
# Appointments: every other message for a phone client whose number is known wrong (as above:
# the cancellation, a moved visit's confirmation, a delay, no-show or fee notice, the survey)
# goes the reminder's way: by email, or without one to the desk to pass on by hand, its task
# saying the number on file is wrong; a call reaching the client since lets calls resume.
# Asked when such a message is due; before it, the desk got a call task to read it out to
# the wrong number.
CLIENT_MESSAGES_AFTER_WRONG_NUMBER_IN_WRITING = "client-messages-after-wrong-number-in-writing"

# Appointments: a client's plea against a late cancellation's or a late reschedule's fee (the
# call script asks for it; `excuse_no_show`, or the desk's read-out completed with a `plea`)
# opens the provider's decision task and emails them `provider_decision`, as a no-show excuse
# does; a further plea while a decision is open is added to that task's details (before it, a
# second excuse was refused). Asked at such a plea; before it, a late change's plea was
# refused and nothing reached the provider.
FEE_PLEA_FOR_EVERY_FEE = "fee-plea-for-every-fee"

# Appointments: a move while the client's number is known wrong (flagged `wrong phone number`)
# keeps what the wrong number holds up: the flag stays (for a client of any channel), the
# desk's task to find the right number stays open, and no follow-up call is planned at the new
# time (they resume when the desk records the right number: `correct_phone`). Asked when such
# a case moves; before it, the move closed that task and planned calls to the wrong number.
WRONG_NUMBER_OUTLIVES_A_MOVE = "wrong-number-outlives-a-move"
# Appointments: a call ending `wrong_number` closes the desk's calls still open to read the
# client the news of the visit (its confirmation, reminder, a delay notice) as moot: they would
# dial the same number; a delay notice among them goes by email (or by hand) instead, the
# visit itself being emailed already. Asked when such a call ends so; before it, those calls
# stayed in the desk's list.
READ_OUTS_MOOT_AT_A_WRONG_NUMBER = "read-outs-moot-at-a-wrong-number"
# Appointments: a phone client's call recorded `no_answer` (the desk's call to read out their
# confirmation or their reminder) is not followed at once by another call to them: the
# reminder that waited for the confirmation call (or is due sooner), and a follow-up attempt
# due sooner, are due at the next follow-up attempt's time after that call (`call_interval`
# later, in office hours; `follow_up.after_unanswered_call`, `follow_up.attempt_rings_back`),
# each at the latest where its own bound ends; both due then are one call (the reminder's,
# which asks the client to confirm). Asked at such an outcome when a call would come sooner;
# before it, the next call task opened the moment the desk closed the first, or minutes after.
CALLS_RING_BACK_AFTER_NO_ANSWER = "calls-ring-back-after-no-answer"
# Appointments: a follow-up call attempt that waited (`call_held_until`: for the confirmation
# call, or for the ring-back after an unanswered call) goes with its hold cleared. Before it,
# the attempt was counted on the case as read before the hold lifted, so the lapsed hold stayed
# and the next attempt, then the unconfirmed verdict, came at once after it. Asked when such an
# attempt goes.
HELD_ATTEMPT_LEAVES_NO_HOLD = "held-attempt-leaves-no-hold"
# Appointments: a provider's delay reported while the desk's call to read a phone client
# their confirmation or their reminder is open is added to that call's task (a line the desk
# reads out with it) instead of a second call task: the client hears it on that call; a call
# recorded without reaching them (or made moot by a confirmation) lets the delay notice go
# then. Asked at such a delay; before it, the desk had two calls to the client open at once.
DELAY_JOINS_THE_OPEN_CALL = "delay-joins-the-open-call"
# Complaints: a long complaint (thousands of notes and updates) continues as new when Temporal
# suggests it, once no update and no send is in flight, carrying its case, timeline, promises
# and the desk's open tasks (`ComplaintContinuation`). Asked only when the history is long
# enough for Temporal to suggest it; before it, a complaint's history grew until Temporal's
# 51,200-event limit ended it.
COMPLAINT_CONTINUES_AS_NEW = "complaint-continues-as-new"
FOLDED = frozenset(
    {
        CLOSE_SUPERSEDED_CALL_TASK,
        BESIDE_THE_PLAN,
        PREPAYMENT_AFTER_NO_SHOW,
        CASE_SENDS_BESIDE,
        PROCEDURE_RULES,
        MOOT_ON_HOLD_AND_REOPEN,
        PROMISE_LEDGER,
        RECORD_BEFORE_ANSWER,
    }
)


def on_baseline() -> bool:
    """True for a case started on the baseline's code. First asked in `@workflow.init`, so
    a case from before the baseline decides False while replaying, for its whole run."""
    return workflow.patched(BASELINE)


def since(patch_id: str) -> bool:
    """`workflow.patched(patch_id)` for a patch the baseline folds in: True at once for a
    case started on the baseline's code, else the patch's own marker decides."""
    if patch_id not in FOLDED:
        raise ValueError(f"{patch_id} is not folded into {BASELINE}: ask workflow.patched")
    return on_baseline() or workflow.patched(patch_id)


# Appointments and surveys: a step the case comes to after its moment passed (the worker was
# down across it, a backlog) is skipped, not run: no reminder once its 24–48h window has
# ended, no confirmation and no follow-up call once the visit has begun (domain/appointments/
# passed_steps.py), no survey once 48h have passed since the visit's end (the survey closes
# unanswered). The timeline says why, the step's promise is broken, a missed reminder or
# confirmation is flagged. Asked only when a step is that late; before it, the reminder went
# out with a minute's budget and the desk got a call task for a visit under way.
PASSED_STEPS_SKIPPED = "passed-steps-skipped"

# Every case sending beside the plan: an SMS Twilio has not taken within its fallback wait
# (a quarter of its budget, at most 1h: domain/sms.py `email_fallback_after`) is cancelled
# and the same message goes by email when the recipient has an address (`…/email` in the
# ledger); the SMS row is `abandoned` saying so. Asked when such an SMS is started; before
# it, the SMS was retried for its whole budget and then handed to the front desk.
SMS_FALLS_BACK_TO_EMAIL = "sms-falls-back-to-email"
# Complaints, inquiries and surveys: an update accepted while the case closes (a `passed_on`
# from the desk; the rest are refused once it closes) runs to its end before the run returns,
# and the case is stored again with it. Before it, the run returned with the update in flight
# (the caller got "workflow completed"). Asked only when one is in flight.
HANDLERS_FINISH_BEFORE_CLOSE = "handlers-finish-before-close"
