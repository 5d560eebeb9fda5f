"""The appointment workflow's state and what every part of it reads and writes through:
the case, its journal (workflows/case.py), the rule checks, the view and the stored row.

The workflow is built in layers, each a class on top of the one before: this state (with
the booking), how it sends (appointment_sends.py, appointment_provider_sends.py), the fees
(appointment_fees.py), the delays (appointment_delays.py), the steps and transitions decided
before their awaits (appointment_steps.py), the phone follow-up (appointment_one_call.py,
appointment_wrong_number.py, appointment_calls.py), the paths of cases started before messages
ran beside the plan (appointment_in_line.py), what an update judges again in its turn
(appointment_judges.py), and the workflow itself (appointment.py): its run, its planner and
its updates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from promptly.workflows.case import (
    CaseRow,
    JournaledCase,
    attention_note,
    opened,
    refuse,
    refuse_actor,
    transition,
)
from promptly.workflows.case_start import opened_by
from promptly.workflows.messages import Sends, message_retry
from promptly.workflows.patches import PREPAYMENT_AFTER_NO_SHOW, on_baseline, since
from promptly.workflows.promises import PromiseBook
from promptly.workflows.search_attributes import (
    APPOINTMENT_START,
    APPOINTMENT_STATUS,
    CLIENT_ID,
    PROVIDER_ID,
)
from promptly.workflows.staff_tasks import task_key

with workflow.unsafe.imports_passed_through():
    from promptly.activities.records import PolicyActivities, RecordsActivities
    from promptly.domain import calendar_event, errors, metrics, promises
    from promptly.domain.appointments import fees as appointment_fees
    from promptly.domain.appointments import follow_up, reminder_window
    from promptly.domain.appointments import rules as appointment_rules
    from promptly.domain.appointments.models import (
        FINAL_APPOINTMENT_STATUSES,
        AppointmentCase,
        AppointmentRequest,
        AppointmentStatus,
        AppointmentView,
        ClientStanding,
        ClientStandingRequest,
    )
    from promptly.domain.common import (
        SYSTEM,
        Actor,
        ActorKind,
        CaseKind,
        TimelineKind,
    )
    from promptly.domain.readable_time import readable
    from promptly.domain.workflow_timeouts import RECORD_TIMEOUT
    from promptly.workflows.read_views import record_before_answer, status_view

PREPAY_FLAG = "next visit must be booked and paid anew"
# Supervisor alerts whose flag (the title, lower case) the client's or provider's next move
# answers: a client no longer unconfirmed, a provider who acknowledged.
UNCONFIRMED_ALERT = "Client unconfirmed"
ACK_MISSING_ALERT = "Provider has not acknowledged"
# A call reached a wrong number; a call that reaches the client lifts it.
WRONG_NUMBER_ALERT = "Wrong phone number"
# Its flag in `needs_attention` (flags are the alerts' names in lower case).
WRONG_NUMBER_FLAG = WRONG_NUMBER_ALERT.lower()

CLIENT_LINKS = ["confirm", "cancel", "reschedule"]
# The confirmation and the reminder also let the client say they run late (no-show policy).
VISIT_LINKS = [*CLIENT_LINKS, "late"]
PROVIDER_LINKS = ["acknowledge"]
# A reminder that went out this long after its planned time counts as late (metrics).
REMINDER_LATE_AFTER = timedelta(hours=1)
# A supervisor alert tries this long before the front desk is asked to pass it on.
ALERT_BUDGET = timedelta(hours=2)
# Transient channel failures back off up to this interval while the deadline allows.
MESSAGE_RETRY = message_retry(maximum_interval=timedelta(minutes=30))


def count(name: str, **labels: str) -> None:
    """A business counter; the SDK records nothing while replaying, so once per event."""
    workflow.metric_meter().create_counter(name, metrics.HELP.get(name)).add(1, labels or None)


class AppointmentState(JournaledCase):
    """The case and its journal; set up by `AppointmentWorkflow.__init__`."""

    _kind = CaseKind.APPOINTMENT

    _case: AppointmentCase | None
    _promises: PromiseBook
    _sends: Sends
    _lock: asyncio.Lock
    # Whether the case runs today's procedure: started since patch `messages-beside-the-plan`
    # (or on the baseline). Decided once, in the first workflow task. More than its messages
    # beside the plan hangs on it: `booked_at` is when Temporal accepted the start, the
    # follow-up calls are planned at booking, the client's prepayment rule is read, a delay is
    # judged against the moved no-show, and each `…_beside` path. A case started before it
    # keeps the old rules for its whole run.
    _current_rules: bool

    # What the planner waits for and until when, once it has waited (the UI's current details).
    _waiting: tuple[str, datetime] | None = None

    async def _book(self, request: AppointmentRequest) -> None:
        rules = await workflow.execute_local_activity_method(
            PolicyActivities.current_appointment_policy,
            start_to_close_timeout=timedelta(seconds=10),
        )
        # Booked when Temporal accepted the start, not when a busy worker first ran it
        # (`start_time` is the first workflow task: a worker outage made bookings look late).
        info = workflow.info()
        booked_at = info.workflow_start_time if self._current_rules else info.start_time
        try:
            appointment_rules.check_booking(request, booked_at)
        except appointment_rules.BookingRejected as err:
            raise ApplicationError(
                str(err), type=errors.INVALID_BOOKING, non_retryable=True
            ) from err
        case = appointment_rules.new_case(
            request, booked_at, rules, calls_before_free_cancellation=self._current_rules
        )
        if self._current_rules and since(PREPAYMENT_AFTER_NO_SHOW):
            # Read by the workflow, not passed in by the caller: every way of booking (API,
            # CLI, a detractor follow-up) gets the rule, and the read is in the history.
            standing = await self._client_standing(request.client.id)
            case = case.model_copy(update={"prepayment_required": standing.prepayment_required})
        # Set once complete: a status query never shows a booking without its prepayment rule.
        self._case = case
        self._promises.make(promises.appointment_promises(case, booked_at))
        workflow.upsert_search_attributes(
            [
                APPOINTMENT_STATUS.value_set(self._case.status.value),
                CLIENT_ID.value_set(request.client.id),
                PROVIDER_ID.value_set(request.provider.id),
                APPOINTMENT_START.value_set(request.start),
            ]
        )
        self._note(
            TimelineKind.STATUS,
            opened_by(),
            f"Booked {request.service}",
            status=AppointmentStatus.BOOKED.value,
            start=request.start.isoformat(),
        )
        if self._case.prepayment_required:
            self._note(
                TimelineKind.DECISION,
                SYSTEM,
                "Prepayment required: the client's last no-show was not waived",
                prepayment_required=True,
            )
        self._note_call_plan()

    def _note_call_plan(self) -> None:
        """The timeline decision of which follow-up rule plans a silent client's calls, and
        from when (cases planned before the rule existed have none)."""
        case = self.case
        if case.follow_up_rule is None:
            return
        self._note(
            TimelineKind.DECISION,
            SYSTEM,
            follow_up.decision_text(
                case.follow_up_rule,
                case.next_call_at or case.response_deadline,
                case.max_call_attempts,
                follow_up.free_cancellation_line(case.request.start, case.policy),
            ),
            rule=case.follow_up_rule,
            response_deadline=case.response_deadline.isoformat(),
            call_attempts=case.max_call_attempts,
        )

    async def _client_standing(self, client_id: str) -> ClientStanding:
        """One indexed read: a case on the baseline reads it locally, inside the booking's
        workflow task (a marker, no task round trip); earlier cases as a normal activity."""
        request = ClientStandingRequest(client_id=client_id)
        summary = "client record: prepayment after a no-show"
        if on_baseline():
            return await workflow.execute_local_activity_method(
                RecordsActivities.client_standing,
                request,
                start_to_close_timeout=RECORD_TIMEOUT,
                summary=summary,
            )
        return await workflow.execute_activity_method(
            RecordsActivities.client_standing,
            request,
            start_to_close_timeout=RECORD_TIMEOUT,
            summary=summary,
        )

    @property
    def case(self) -> AppointmentCase:
        return opened(self._case, "appointment is still being booked")

    @property
    def _office_timezone(self) -> str:
        """Where staff read times: the office's zone, else the client's."""
        office = self.case.policy.business
        return office.timezone if office else self.case.request.client.timezone

    @property
    def _provider(self) -> Actor:
        return Actor(kind=ActorKind.PROVIDER, id=self.case.request.provider.id)

    def _refuse_other_provider(self, update: str, actor: Actor | None) -> None:
        """A provider named for a cost decision is this visit's own. In validators only (as
        `validate_record_call_outcome`'s time check): they do not run on replay, so stored
        histories holding another provider's decision replay as they ran."""
        if self._case is not None:
            refuse_actor(appointment_fees.party_refusal(update, self._case, actor))

    def _refuse_unless_allowed(self, update: str, actor: Actor | None = None) -> None:
        refuse_actor(appointment_fees.actor_refusal(update, actor))
        if self._case is None:
            return  # still booking: the handler waits for the case and judges then
        refuse(
            appointment_rules.transition_refusal(
                update, self._case, workflow.now(), moved_no_show=self._current_rules
            )
        )

    def _update(self, **changes: object) -> None:
        self._case = self.case.model_copy(update=changes)
        self._journal.changed()

    def _flag(self, concern: str) -> None:
        if concern not in self.case.needs_attention:
            self._update(needs_attention=[*self.case.needs_attention, concern])
            self._show_details()

    def _unflag(self, concern: str) -> None:
        if concern in self.case.needs_attention:
            self._update(needs_attention=[c for c in self.case.needs_attention if c != concern])
            self._show_details()

    def _set_status(self, status: AppointmentStatus, actor: Actor, detail: str) -> None:
        previous = self.case.status
        final = status in FINAL_APPOINTMENT_STATUSES
        self._update(status=status, closed_at=workflow.now() if final else None)
        if previous is AppointmentStatus.UNCONFIRMED and status is not previous:
            self._unflag(UNCONFIRMED_ALERT.lower())  # the supervisor's alert asks nothing now
        self._note(TimelineKind.STATUS, actor, detail, status=status.value, previous=previous.value)
        workflow.upsert_search_attributes([APPOINTMENT_STATUS.value_set(status.value)])

    def _describe_wait(self, until: datetime) -> str:
        """Set the UI's current details; returns the next step, the summary of its timer."""
        step = appointment_rules.next_step(self.case)
        waiting_for = step.step.value.replace("_", " ") if step else "closing"
        self._waiting = (waiting_for, until)
        self._show_details()
        return f"{waiting_for} at {until.isoformat()}"

    def _show_details(self) -> None:
        """The UI's current details: the status, the visit, what the planner waits for and
        what needs attention. Set at each wait, and again when a flag is raised or cleared
        meanwhile (a send's outcome does not wake the planner). No event in the history."""
        if self._waiting is None:
            return  # the planner has not waited yet: its first wait sets them
        waiting_for, until = self._waiting
        case = self.case
        # The details are read in the UI: office time, to the minute, zone named (the timer's
        # summary keeps the machine time it always had).
        office = self._office_timezone
        workflow.set_current_details(
            f"**{case.status.value}** · visit {readable(case.request.start, office)} · next: "
            f"{waiting_for} at {readable(until, office)}" + attention_note(case.needs_attention)
        )

    def _turn(self, judge: Callable[[], None]) -> AbstractAsyncContextManager[None]:
        """An update's turn (workflows/case.py): one handler at a time, on the booked case,
        judged again on the current state, stored before the update answers."""
        return transition(
            self._lock,
            self._judged_in_turn(judge),
            # Asked holding the lock: the order in which these cases' histories were recorded.
            ready=lambda: self._case is not None,
            ready_under_lock=True,
            store=record_before_answer,
            save=self._save,
        )

    def _row(self) -> CaseRow:
        case = self.case
        return CaseRow(
            business_id=case.request.appointment_id,
            status=case.status.value,
            client_id=case.request.client.id,
            provider_id=case.request.provider.id,
            starts_at=case.request.start,
            details={
                "needs_attention": case.needs_attention,
                "call_attempts": case.call_attempts,
                # What the providers' calendar feeds show (no client contact details).
                "calendar": calendar_event.event_of(case, self._workflow_id).model_dump(
                    mode="json"
                ),
            },
        )

    def _view(self) -> AppointmentView:
        case = self.case
        return status_view(
            AppointmentView,
            case,
            appointment_id=case.request.appointment_id,
            start=case.request.start,
            client_id=case.request.client.id,
            client_phone=case.request.client.phone,
            provider_id=case.request.provider.id,
            service=case.request.service,
            location=case.request.location,
            end=case.request.end,
            no_show_at=appointment_rules.no_show_moment(case),
            fee=appointment_fees.standing_fee(case),
            version=self._version(),
            timeline=list(self._journal.timeline),
        )

    def _message_context(self) -> dict[str, object]:
        case = self.case
        request = case.request
        return {
            "case_id": self._workflow_id,
            "client_name": request.client.name,
            "client_id": request.client.id,
            "phone": request.client.phone or "",
            "email": request.client.email or "",
            "provider_name": request.provider.name,
            "service": request.service,
            "location": request.location,
            "start": request.start.isoformat(),
            "timezone": request.client.timezone,
            "instructions": request.instructions,
            "confirmed": case.status is AppointmentStatus.CONFIRMED,
            "ack_deadline": case.provider_ack_deadline.isoformat(),
            "deadline": case.confirmation_deadline.isoformat(),
            # The reminder's window ends then: a reminder read out by phone is due by it.
            "reminder_by": self._reminder_window_end().isoformat(),
            "channel": request.client.preferred_channel.value,
            "prepayment_required": case.prepayment_required,
            # Unless the fee was waived before the new confirmation went out.
            "late_reschedule_charged": case.last_move_charged and case.reschedule_fee_pending,
            # A waiver or the provider's delay made the next change free: no message may say
            # a late change is charged (fees.cancellation, fees.reschedule_charged).
            "changes_free": case.free_reschedule,
            "reference": request.appointment_id,
            # The confirmation and the provider's notice of a new time say it moved; the
            # count makes the links of each time single-use (domain/links.py).
            "rescheduled": case.reschedules > 0,
            "reschedules": case.reschedules,
            "price": (
                f"{request.price.amount:.2f} {request.price.currency}" if request.price else ""
            ),
            "reason": "",
            "no_show_at": appointment_rules.no_show_moment(case).isoformat(),
            **case.policy.message_terms(),
            **appointment_fees.change_terms(request.start, workflow.now(), case.policy),
            # The messaging activity attaches the calendar invitation built from this.
            "calendar": calendar_event.event_of(case, self._workflow_id).model_dump(mode="json"),
        }

    def _reminder_window_end(self) -> datetime:
        return reminder_window.reminder_window_end(self.case.request.start, self.case.policy)

    def _call_task(self, attempt: int) -> str:
        """The purpose of call attempt `attempt`'s task (staff_tasks.task_key); after a move
        the attempts count afresh, so the purpose names the move (the first time's is as it
        always was): the new time's first call is a task of its own, not the old one's."""
        moves = self.case.reschedules
        return f"call/{moves}/{attempt}" if moves else f"call/{attempt}"

    def _call_task_key(self, attempt: int) -> str:
        return task_key(self._call_task(attempt))
