"""The complaint, inquiry and survey workflows' messages beside their plan (DESIGN.md §3).

Each send goes through `Sends` (messages.py): started at once, its one outcome recorded when
it ends, so no timer (24h updates, escalations, the 48h breach, hold end, survey close,
inquiry alerts) waits for a channel. `CaseSends` adds what these cases do with an outcome:
the timeline entry, and for a message that cannot go out a flag plus a staff task to pass it
on by hand — never a failed workflow. A change cancels the sends it makes moot; a failure of
a send the change already made moot asks nobody to pass it on.

Cases started before the patch `CASE_SENDS_BESIDE` (patches.py) await their messages in line
(`deliver`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from temporalio import workflow
from temporalio.common import RetryPolicy

from promptly.workflows.case import JournaledCase
from promptly.workflows.case_journal import CaseJournal
from promptly.workflows.hand_tasks import HandTasks
from promptly.workflows.messages import Delivery, Sends
from promptly.workflows.patches import (
    CASE_SENDS_BESIDE,
    HANDLERS_FINISH_BEFORE_CLOSE,
    since,
)
from promptly.workflows.promises import PromiseBook
from promptly.workflows.staff_tasks import close_task, open_task

with workflow.unsafe.imports_passed_through():
    from promptly.domain import read_outs
    from promptly.domain.appointments import call_due
    from promptly.domain.common import (
        SYSTEM,
        PromiseKind,
        PromiseRecord,
        RecipientRole,
        TimelineEntry,
        TimelineKind,
    )
    from promptly.domain.messages import Recipient, SendMessageRequest
    from promptly.domain.readable_time import readable
    from promptly.domain.tasks import CreateTaskRequest, HandTasksRecord, TaskKind

# The tasks that exist only to pass a message on by hand: moot once the case moved past it.
MESSAGE_TASKS = [TaskKind.DELIVER_MESSAGE_MANUALLY, TaskKind.RESEND_STAFF_MESSAGE]


class Continued(Protocol):
    """What a case's run carries into the next (a workflow's continuation model)."""

    @property
    def timeline(self) -> Sequence[TimelineEntry]: ...
    @property
    def omitted(self) -> int: ...
    @property
    def stored_entries(self) -> int: ...
    @property
    def promises(self) -> Sequence[PromiseRecord]: ...
    @property
    def by_hand(self) -> HandTasksRecord: ...


Note = Callable[[TimelineKind, str, dict[str, object]], None]
TaskFor = Callable[[SendMessageRequest, Delivery], CreateTaskRequest]


def _reason(delivery: Delivery) -> str:
    return str(delivery.data.get("reason", delivery.detail))


def client_message_task(
    message: SendMessageRequest,
    delivery: Delivery,
    *,
    kind: TaskKind = TaskKind.DELIVER_MESSAGE_MANUALLY,
    title: str | None = None,
    due_at: datetime | None = None,
) -> CreateTaskRequest:
    """A client message that will not go out: the front desk passes it on, before `due_at`
    where the message has a deadline of its own (an appointment's confirmation), else at once."""
    who = message.to.name or message.to.role.value
    what = message.template.replace("_", " ")
    # The promise's deadline, never after the visit (an appointment's confirmation).
    due = call_due.message_call_due(message.template, message.context, due_at)
    by_when = f"before {readable(due, message.to.timezone)}" if due else "by phone or in person"

    wrong_number = message.context.get("wrong_number")
    how = (
        read_outs.pass_on_without_the_number(wrong_number)
        if isinstance(wrong_number, str) and wrong_number
        else f"pass it on {by_when}"
    )
    return CreateTaskRequest(
        idempotency_key=f"{message.idempotency_key}/by-hand",
        case_id=message.case_id,
        kind=kind,
        assignee=RecipientRole.FRONT_DESK,
        title=title or f"Pass on the {what} to {who}",
        details=f"The {message.channel.value} {what} to {who} could not be sent "
        f"({_reason(delivery)}); {how}." + _what_to_pass_on(message),
        due_at=due or workflow.now(),
        data={"template": message.template, "recipient": message.to.role.value},
    )


def _what_to_pass_on(message: SendMessageRequest) -> str:
    """The facts the message told, for the desk to say: the visit (service, time in the
    recipient's zone, place), whose it is, the reference and the client's instructions."""
    facts = message.context
    start = facts.get("start")
    if not isinstance(start, str) or not facts.get("service"):
        return ""
    when = readable(datetime.fromisoformat(start), message.to.timezone)
    visit = f"{facts['service']} on {when}"
    if facts.get("location"):
        visit += f" at {facts['location']}"
    people = [
        f"{label} {facts[key]}"
        for label, key in (("client", "client_name"), ("provider", "provider_name"))
        if facts.get(key)
    ]
    if facts.get("phone") and message.to.role is not RecipientRole.CLIENT:
        people.append(f"client's phone {facts['phone']}")
    text = f" The visit: {visit}" + (f" ({', '.join(people)})" if people else "") + "."
    if facts.get("reference"):
        text += f" Reference {facts['reference']}."
    if facts.get("instructions") and message.to.role is RecipientRole.CLIENT:
        text += f" Instructions for the client: {facts['instructions']}"
        text += "" if str(facts["instructions"]).endswith(".") else "."
    return text


def staff_task(
    key: str, case_id: str, template: str, to: Recipient, about: str, reason: str | None
) -> CreateTaskRequest:
    """A staff message (department notice, escalation alert) that will not go out: the front
    desk tells that person by phone or in person, due at once. `about` names the case;
    `reason` says why it failed, where that is known."""
    whom = to.name or to.role.value
    address = f" <{to.email}>" if to.email else ""
    what = template.replace("_", " ")
    return CreateTaskRequest(
        idempotency_key=key,
        case_id=case_id,
        kind=TaskKind.RESEND_STAFF_MESSAGE,
        assignee=RecipientRole.FRONT_DESK,  # who picks up the phone
        title=f"Pass on by hand: {what} to {whom}",
        details=f"The {what} for {about} could not be sent to {whom}{address}. Tell them by "
        "phone or in person." + (f" Reason: {reason}" if reason is not None else ""),
        due_at=workflow.now(),
        data={"template": template, "recipient": to.role.value, "email": to.email},
    )


def staff_message_task(about: str) -> TaskFor:
    """`staff_task` for a staff message sent beside the plan."""

    def build(message: SendMessageRequest, delivery: Delivery) -> CreateTaskRequest:
        key = f"{message.idempotency_key}/task"
        return staff_task(
            key, message.case_id, message.template, message.to, about, _reason(delivery)
        )

    return build


class CaseSends:
    """A case's sends beside its plan, each outcome noted; a failure flagged and handed on."""

    def __init__(
        self,
        *,
        note: Note,
        flag: Callable[[str], None],
        handed_on: Callable[[int, TaskKind, str], None],
        saved: Callable[[], Awaitable[None]],
        retry: RetryPolicy,
    ) -> None:
        self._sends = Sends(retry)
        self._note = note
        self._flag = flag
        self._handed_on = handed_on
        self._saved = saved

    def start(
        self,
        message: SendMessageRequest,
        *,
        group: str,
        budget: timedelta,
        if_failed: str,
        task: TaskFor,
        settled: Callable[[bool], None] | None = None,
    ) -> None:
        """Start `message` and return at once. When it cannot go out (refused, or still failing
        when `budget` is spent) the case gets the flag `if_failed` and a `task` to pass it on.
        `settled` hears whether it went out (not when a change of the case cancelled it)."""
        started = self._sends.changes

        async def settle(sent: SendMessageRequest, delivery: Delivery) -> None:
            self._note(delivery.kind, delivery.detail, delivery.data)
            if settled is not None and not delivery.cancelled:
                settled(delivery.sent)
            moot = self._sends.moot_since(group, started)
            if not delivery.sent and not delivery.cancelled and not moot:
                self._flag(if_failed)
                request = task(sent, delivery)
                created = await open_task(
                    request, f"task: pass on the {sent.template.replace('_', ' ')} by hand"
                )
                self._note(
                    TimelineKind.TASK,
                    f"{request.title} (task {created.task_id})",
                    {
                        "task_id": created.task_id,
                        "kind": request.kind.value,
                        "template": sent.template,
                    },
                )
                if self._sends.moot_since(group, started):
                    # A change made it moot while the task was being written, after it
                    # closed the case's tasks: this one is closed here.
                    await close_task(
                        request.idempotency_key,
                        "superseded",
                        "the case changed while this task was being created",
                        SYSTEM,
                        summary="close task: superseded",
                    )
                else:
                    self._handed_on(created.task_id, request.kind, if_failed)
            await self._saved()

        self._sends.start(message, group=group, budget=budget, on_outcome=settle)

    def in_flight(self, *groups: str) -> bool:
        return self._sends.in_flight(*groups)

    async def cancel(self, groups: Iterable[str]) -> int:
        """Cancel the sends of `groups`; returns once none of them can reach a channel, and a
        failure of theirs still being handled asks nobody to pass it on."""
        return await self._sends.cancel(groups)

    def idle(self) -> bool:
        """No send is in flight, nor its outcome still being recorded."""
        return self._sends.idle()

    async def cancel_all_but(self, *keep: str) -> int:
        return await self._sends.cancel_all_but(*keep)

    async def drain(self) -> None:
        """Wait until every send ended and its outcome was recorded."""
        await self._sends.drain()


class SendingCase(JournaledCase):
    """The base of the complaint, inquiry and survey workflows: their journal and their sends
    beside the plan, opened by `_open_books` in each workflow's `@workflow.init`."""

    _beside: bool
    _messages: CaseSends
    _promises: PromiseBook

    def _open_books(
        self,
        *,
        retry: RetryPolicy,
        summary: str = "record case",
        dues: Callable[[], Mapping[PromiseKind, datetime | None]] | None = None,
        skip_unchanged: bool = True,
        keep_entries: int | None = None,
        continued: Continued | None = None,
    ) -> None:
        """`continued`: what the run before this one carried over (continue-as-new)."""
        # Decided once, in the first workflow task, and in this order (the sends' patch, then
        # the ledger's): a run replaying a history from before the patch awaits its messages
        # in line for its whole run.
        self._beside = since(CASE_SENDS_BESIDE)
        if continued is not None:
            # Before the sends are set up: they hand on failures to this one.
            self._by_hand = HandTasks.restored(continued.by_hand)
        self._messages = CaseSends(
            note=lambda kind, detail, data: self._note(kind, SYSTEM, detail, **data),
            flag=self._flag,
            handed_on=self._by_hand.opened,
            saved=self._save,
            retry=retry,
        )
        self._promises = PromiseBook.opened(continued.promises if continued else ())
        self._journal = CaseJournal(
            promises=self._promises,
            snapshot=self._snapshot,
            summary=summary,
            dues=dues,
            skip_unchanged=skip_unchanged,
            keep_entries=keep_entries,
            timeline=continued.timeline if continued else (),
            stored_entries=continued.stored_entries if continued else 0,
            omitted=continued.omitted if continued else 0,
        )

    def _books_carried(self) -> dict[str, Any]:
        """What the books carry into the next run (a `Continued`'s fields but the case); the
        journal is saved and no send is in flight by then."""
        return {
            "timeline": list(self._journal.timeline),
            "omitted": self._journal.omitted,
            "stored_entries": self._journal.stored_entries,
            "promises": self._promises.records(),
            "by_hand": self._by_hand.record(),
        }

    async def _close_message_tasks(
        self,
        outcome: str,
        note: str,
        *,
        read_outs: Collection[str] = (),
        flags_stay: bool = False,
    ) -> None:
        """Close the case's open pass-it-on-by-hand tasks that no longer matter, the calls to
        read out its messages of the templates `read_outs`, and (unless `flags_stay`) the flags
        only those tasks answered (`JournaledCase._close_tasks`)."""
        await self._close_tasks(
            outcome,
            note,
            SYSTEM,
            MESSAGE_TASKS,
            read_outs=read_outs,
            flags_stay=flags_stay,
            summary=f"close message tasks: {outcome}",
        )

    async def _drain(self) -> None:
        """The plan is done: wait until every handler and every send has finished (the case
        is then closed as they left it). From here on validators refuse (`_closing`)."""
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._closing = True
        if self._beside:
            await self._messages.drain()

    async def _close_books(self, outcome: str) -> None:
        """The run's last step: close the ledger with `outcome` and store the case. An update
        accepted while the case was closing (`passed_on`: the others are refused) runs to its
        end first, and the case is stored again as it left it."""
        self._promises.close(outcome)
        await self._save()
        # Asked only when one is in flight: a case closing without one records no marker.
        while not workflow.all_handlers_finished() and workflow.patched(
            HANDLERS_FINISH_BEFORE_CLOSE
        ):
            await workflow.wait_condition(workflow.all_handlers_finished)
            await self._save()
