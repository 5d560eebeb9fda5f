"""A wrong number and the right one (DESIGN.md §1, appointment 3): a call that reached a
wrong number makes the client unconfirmed, tells the supervisor, closes the calls still open to
that number, emails the visit and asks the desk to find the right number; the right number,
once found, is the client's from then on and the follow-up calls it stopped resume.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from promptly.workflows.appointment_one_call import AppointmentOneCall
from promptly.workflows.appointment_state import VISIT_LINKS, WRONG_NUMBER_ALERT, WRONG_NUMBER_FLAG
from promptly.workflows.appointment_steps import BEFORE_THE_VISIT_READ_OUTS
from promptly.workflows.messages import to_client
from promptly.workflows.patches import (
    CONFIRMATION_CALL_WRONG_NUMBER_STOPS_CALLS,
    READ_OUTS_MOOT_AT_A_WRONG_NUMBER,
    WRONG_NUMBER_FOLLOWED_UP,
)
from promptly.workflows.staff_tasks import open_case_task

with workflow.unsafe.imports_passed_through():
    from promptly.domain import read_outs
    from promptly.domain.appointments import follow_up
    from promptly.domain.appointments.models import (
        AppointmentStatus,
        CallOutcome,
        CorrectPhoneInput,
    )
    from promptly.domain.common import SYSTEM, Actor, Channel, RecipientRole, TimelineKind
    from promptly.domain.read_outs import ReadOutClosedInput, ReadOutOutcome
    from promptly.domain.tasks import TaskKind


# How long the email to a client whose number was wrong may take to go out.
WRONG_NUMBER_EMAIL_BUDGET = timedelta(hours=1)


class AppointmentWrongNumber(AppointmentOneCall):
    """A wrong number on a call, and the desk's right number after it."""

    async def _wrong_number(self, actor: Actor, attempt: int | None) -> None:
        """The number on file is not the client's: unconfirmed, the supervisor told; the desk
        is asked to find the right number, and a client with an email gets the visit and its
        links there (as a read-out's wrong number: services/delivery_receipts.py). On the
        confirmation call (`attempt` None) that read-out's receipt opened the desk's task."""
        client = self.case.request.client
        self._set_status(
            AppointmentStatus.UNCONFIRMED,
            actor,
            "Wrong number: the client cannot be reached by phone",
        )
        email = f"Email: {client.email}." if client.email else "No email on file."
        await self._alert_supervisor(
            "wrong_number",
            WRONG_NUMBER_ALERT,
            f"{client.phone} is not {client.name}'s. {email}",
        )
        if not (self._current_rules and workflow.patched(WRONG_NUMBER_FOLLOWED_UP)):
            return
        if workflow.patched(READ_OUTS_MOOT_AT_A_WRONG_NUMBER):
            await self._read_outs_moot(actor)
        emailed = client.email is not None
        if emailed:
            self._start_send(
                "wrong_number",
                "confirmation",
                to_client(client),
                Channel.EMAIL,
                budget=WRONG_NUMBER_EMAIL_BUDGET,
                if_failed="visit not emailed after a wrong number",
                link_actions=VISIT_LINKS,
                extra={"wrong_number": client.phone or ""},
                purpose=f"wrong-number/{attempt or 'confirmation'}",
            )
        if attempt is None:
            return
        visit = read_outs.visit_for_the_desk(
            self.case.request.start, client.timezone, self._office_timezone
        )
        title, details = read_outs.wrong_number_task(
            client.name,
            client.phone or "",
            client.email,
            f"Call attempt {attempt} to confirm {self.case.request.service} on {visit}",
            emailed=emailed,
        )
        task = await open_case_task(
            f"wrong-number/{self.case.reschedules}/{attempt}",
            "find the client's right number",
            kind=TaskKind.CLIENT_REPLY,
            assignee=RecipientRole.FRONT_DESK,
            title=title,
            details=details,
            due_at=workflow.now(),
            data={"phone": client.phone, "error_code": CallOutcome.WRONG_NUMBER.value},
        )
        self._note(
            TimelineKind.TASK,
            SYSTEM,
            "Front desk asked to find the client's right number",
            task_id=task.task_id,
            kind=TaskKind.CLIENT_REPLY.value,
        )

    async def _read_outs_moot(self, actor: Actor) -> None:
        """The desk's calls still open to read the client the news of the visit would dial the
        wrong number: closed as moot. The visit goes by email (`_wrong_number`); a delay notice
        among them goes in writing too."""
        phone = self.case.request.client.phone
        self._update(
            confirmation_call_open=False,
            reminder_call_open=False,
            reminder_held_until=None,
            call_held_until=None,
        )
        await self._close_tasks(
            CallOutcome.WRONG_NUMBER.value,
            f"moot: {phone} is a wrong number; the news goes in writing",
            actor,
            read_outs=BEFORE_THE_VISIT_READ_OUTS,
        )
        minutes = self.case.delay_minutes
        if minutes and self.case.request.client.preferred_channel is Channel.PHONE:
            self._start_delay_notice(minutes, f"delay-{minutes}/wrong-number", in_writing=True)

    async def _wrong_number_on_the_confirmation_call(self, command: ReadOutClosedInput) -> None:
        """The confirmation call reached a wrong number: the follow-up calls would dial it
        again, so they stop as after an attempt's wrong number (an attempt's own call that
        went beside it closes). The read-out's receipt opened the task to find the number."""
        case = self.case
        if not (
            case.status is AppointmentStatus.BOOKED
            and command.outcome is ReadOutOutcome.WRONG_NUMBER
            and workflow.patched(CONFIRMATION_CALL_WRONG_NUMBER_STOPS_CALLS)
        ):
            return
        self._update(next_call_at=None, call_held_until=None, awaiting_call_outcome=False)
        if case.awaiting_call_outcome:
            await self._close_task(
                self._call_task_key(case.call_attempts),
                CallOutcome.WRONG_NUMBER.value,
                "the confirmation call reached a wrong number",
                command.actor,
            )
        await self._wrong_number(command.actor, None)

    async def _correct_phone(self, command: CorrectPhoneInput) -> None:
        """The desk found the client's right number: calls, read-outs and SMS use it from now
        on; the wrong-number flag goes and the desk's task to find the number closes. The
        follow-up calls the wrong number stopped resume while the visit is unconfirmed and
        attempts are left: the next one is due at once, or at the next office hour (the client
        has not been reached on the phone since the visit was booked or moved). The same
        number as on file changes nothing."""
        case = self.case
        client = case.request.client
        previous = client.phone
        if command.phone == previous:
            return
        request = case.request.model_copy(
            update={"client": client.model_copy(update={"phone": command.phone})}
        )
        self._update(request=request)
        self._note(
            TimelineKind.ACTION,
            command.actor,
            f"Client's phone changed from {previous or 'none'} to {command.phone}"
            + (f" ({command.note})" if command.note else ""),
            phone=command.phone,
            previous_phone=previous,
            note=command.note,
        )
        wrong = WRONG_NUMBER_FLAG in case.needs_attention
        if not wrong:
            return
        self._unflag(WRONG_NUMBER_FLAG)
        await self._close_tasks(
            "phone_corrected",
            f"the right number is {command.phone}",
            command.actor,
            kinds=[TaskKind.CLIENT_REPLY],
            error_code=CallOutcome.WRONG_NUMBER.value,
        )
        self._resume_calls(command.actor)

    def _resume_calls(self, actor: Actor) -> None:
        """The follow-up calls a wrong number stopped, to the right number now on file."""
        case = self.case
        if case.status not in (AppointmentStatus.BOOKED, AppointmentStatus.UNCONFIRMED):
            return
        if case.next_call_at is not None or follow_up.follow_up_exhausted(case):
            return
        slot = follow_up.call_attempt_time(workflow.now(), case.request.start, case.policy)
        if slot is None:
            return
        self._update(next_call_at=slot, call_held_until=None)
        detail = f"Follow-up calls resume to the right number: attempt {case.call_attempts + 1}"
        if case.status is AppointmentStatus.UNCONFIRMED:
            self._set_status(AppointmentStatus.BOOKED, actor, detail)
        else:
            self._note(TimelineKind.DECISION, actor, detail)
