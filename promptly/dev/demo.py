"""`make demo`: four sample appointments played out on a compressed-time worker.

The demo runs its own worker on the `<task queue>-demo` queue with every policy duration
multiplied by `time_scale`, so a three-day lifecycle plays out in the UI within minutes while
the main worker keeps real time. It waits for each case to answer before steering it, prints
every status change as it happens, and returns when the stories have ended. Before its worker
stops it ends every demo case it started (an open case would sit on a queue nobody serves),
also after an error or Ctrl-C.

Demo cases carry `DEMO-` in their ids and a `promptly_demo` memo (promptly/domain/demo.py):
the staff inbox and the QA report leave them out; `promptly demo --clean` removes them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError

from promptly.config import Settings
from promptly.dev.demo_board import Board
from promptly.domain.appointments.models import (
    AcknowledgeInput,
    AppointmentRequest,
    AppointmentStatus,
    AppointmentView,
    CheckInInput,
    CompleteInput,
    ConfirmInput,
)
from promptly.domain.common import Actor, ActorKind, TimelineKind
from promptly.domain.demo import DEMO_ACTOR, DEMO_ID_PREFIX, DEMO_MEMO
from promptly.domain.surveys.models import survey_workflow_id
from promptly.services.appointments import book
from promptly.workflows.appointment import AppointmentWorkflow

CLIENT = Actor(kind=ActorKind.CLIENT, id="demo-client")
DESK = Actor(kind=ActorKind.STAFF, id="demo-front-desk")
PROVIDER = Actor(kind=ActorKind.PROVIDER, id="P-3")
READY_TIMEOUT = timedelta(seconds=60)
POLL = 0.5  # seconds between two looks at a case

Handle = WorkflowHandle[AppointmentWorkflow, AppointmentView]


def sample(appointment_id: str, start: datetime, channel: str, locale: str) -> AppointmentRequest:
    return AppointmentRequest.model_validate(
        {
            "appointment_id": appointment_id,
            "client": {
                "id": f"C-{appointment_id}",
                "name": "Anna Nowak",
                "email": "anna@example.com",
                "phone": "+48600100200",
                "preferred_channel": channel,
                "locale": locale,
                "timezone": "Europe/Warsaw",
            },
            "provider": {"id": "P-3", "name": "Jan Kowalski", "email": "jan@example.com"},
            "service": "Physiotherapy consultation",
            "location": "ul. Prosta 1, Warszawa",
            "start": start.isoformat(),
            "duration_minutes": 50,
            "instructions": "Bring previous test results",
        }
    )


@dataclass(frozen=True)
class Story:
    """One demo case: how it is booked, what the demo does to it, and how it should end."""

    name: str
    channel: str
    locale: str
    ahead_hours: float  # the visit starts this many (scaled) hours after booking
    ends_as: AppointmentStatus
    play: Callable[[Handle, datetime, float], Awaitable[None]]


async def wait_ready(handle: Handle, timeout: timedelta = READY_TIMEOUT) -> AppointmentView:
    """The case's status once its workflow answers queries (right after the start it may
    still be booking)."""
    async with asyncio.timeout(timeout.total_seconds()):
        while True:
            try:
                return await handle.query(AppointmentWorkflow.status)
            except (WorkflowQueryFailedError, RPCError):
                await asyncio.sleep(0.2)


async def wait_for_status(
    handle: Handle, wanted: set[AppointmentStatus], timeout: float
) -> AppointmentView:
    async with asyncio.timeout(timeout):
        while True:
            view = await handle.query(AppointmentWorkflow.status)
            if view.status in wanted:
                return view
            await asyncio.sleep(POLL)


async def _update_when_accepted(
    action: Callable[[], Awaitable[AppointmentView]], tries: int = 20
) -> AppointmentView:
    """An update the case may refuse for a moment (its step not reached yet): tried again."""
    for attempt in range(tries):
        try:
            return await action()
        except WorkflowUpdateFailedError:
            if attempt == tries - 1:
                raise
            await asyncio.sleep(1)
    raise AssertionError("unreachable")


async def _sleep_until(moment: datetime) -> None:
    await asyncio.sleep(max((moment - datetime.now(UTC)).total_seconds(), 0))


async def _visit(handle: Handle, start: datetime, scale: float) -> None:
    """The client checks in before the start (the no-show rule fires minutes after it, which
    is a second or two on the demo clock); the visit ends a moment after the start."""
    await _sleep_until(start - timedelta(hours=1) * scale)  # check-in opens 2h before
    await _update_when_accepted(
        lambda: handle.execute_update(AppointmentWorkflow.check_in, CheckInInput(actor=DESK))
    )
    await _sleep_until(start + timedelta(seconds=1))
    await _update_when_accepted(
        lambda: handle.execute_update(AppointmentWorkflow.complete, CompleteInput(actor=PROVIDER))
    )


async def _confirmed_and_completed(handle: Handle, start: datetime, scale: float) -> None:
    await wait_ready(handle)
    # Long enough to see it Booked with its confirmation sent, short on any clock.
    await asyncio.sleep(min(5.0, (timedelta(minutes=30) * scale).total_seconds()))
    await handle.execute_update(AppointmentWorkflow.acknowledge, AcknowledgeInput(actor=PROVIDER))
    await handle.execute_update(AppointmentWorkflow.confirm, ConfirmInput(actor=CLIENT))
    await _visit(handle, start, scale)


async def _silent_client(handle: Handle, start: datetime, scale: float) -> None:
    await wait_ready(handle)  # then nothing: the calls, Unconfirmed and the no-show play out


async def _confirmed_by_phone(handle: Handle, start: datetime, scale: float) -> None:
    """The front desk's first call to the client reads them the booking, and they confirm on
    it (what the desk's `reached_confirmed` on that call runs). Not a later follow-up
    attempt: those come a demo hour or two apart, seconds on the demo clock, and a busy
    machine could miss the one the story waits for."""
    await wait_ready(handle)
    await asyncio.sleep(min(5.0, (timedelta(minutes=30) * scale).total_seconds()))
    await _update_when_accepted(
        lambda: handle.execute_update(AppointmentWorkflow.confirm, ConfirmInput(actor=DESK))
    )
    await _visit(handle, start, scale)


STORIES = (
    Story("confirmed", "email", "en", 72, AppointmentStatus.COMPLETED, _confirmed_and_completed),
    Story("silent", "email", "pl", 72, AppointmentStatus.NO_SHOW, _silent_client),
    Story("phone", "phone", "pl", 72, AppointmentStatus.COMPLETED, _confirmed_by_phone),
    Story("short-notice", "email", "en", 12, AppointmentStatus.COMPLETED, _confirmed_and_completed),
)


def demo_settings(settings: Settings, time_scale: float) -> Settings:
    return settings.model_copy(
        update={"time_scale": time_scale, "task_queue": f"{settings.task_queue}-demo"}
    )


async def run(
    settings: Settings,
    time_scale: float,
    *,
    client: Client | None = None,
    board: Board | None = None,
) -> bool:
    """Play every story on a worker of its own; True when each ended as it should."""
    from promptly.worker import create_worker, make_client, open_pool

    scaled = demo_settings(settings, time_scale)
    client = client or await make_client(scaled)
    board = board or Board(timezone=scaled.office_timezone)
    tag = datetime.now(UTC).strftime("%H%M%S")
    handles: list[Handle] = []
    async with open_pool(scaled) as pool, create_worker(client, scaled, pool=pool):
        try:
            return await _play(client, scaled, time_scale, tag, board, handles)
        finally:
            # Before the worker stops: no demo case may stay open on a queue nobody serves.
            ended = end_cases(client, handles, "demo over: the sample story has ended")
            await asyncio.shield(ended)


async def _play(
    client: Client,
    settings: Settings,
    time_scale: float,
    tag: str,
    board: Board,
    handles: list[Handle],
) -> bool:
    now = datetime.now(UTC)
    starts = {}
    for story in STORIES:
        appointment_id = f"{DEMO_ID_PREFIX}{tag}-{story.name}"
        start = now + timedelta(hours=story.ahead_hours) * time_scale
        request = sample(appointment_id, start, story.channel, story.locale)
        handles.append(
            await book(client, request, settings, now, memo=DEMO_MEMO, opened_by=DEMO_ACTOR)
        )
        starts[appointment_id] = start
        board.add(appointment_id, story.ends_as.value, start)
    last_start = max(starts.values())
    board.intro(
        f"demo: {len(STORIES)} appointments on a {time_scale:g}× clock, times in "
        f"{board.timezone}; the last visit is at {board.at(last_start)}. Watch them in the "
        f"Temporal UI too "
        f"(http://localhost:8233; `promptly views` links today's visits)."
    )
    # Past the last visit: the no-show rule (15 min) and the end of a visit, scaled, + slack.
    budget = (last_start - datetime.now(UTC)).total_seconds() + 60
    with board.live():
        watchers = [_Watcher(handle, board) for handle in handles]
        following = [asyncio.create_task(watcher.follow()) for watcher in watchers]
        try:
            results = await asyncio.gather(
                *(
                    _play_story(story, handle, starts, time_scale, budget)
                    for story, handle in zip(STORIES, handles, strict=True)
                ),
                return_exceptions=True,
            )
        finally:
            for task in following:
                task.cancel()
        # A story may end between two polls: one last look so its final change is printed.
        await asyncio.gather(*(watcher.look() for watcher in watchers))
    ok = True
    for story, handle, result in zip(STORIES, handles, results, strict=True):
        case = handle.id.removeprefix("appointment-")
        if isinstance(result, BaseException):
            board.say(f"demo: {case} did not end as {story.ends_as.value}: {result!r}")
            ok = False
        else:
            board.say(f"demo: {case} ended {result.status.value}")
    return ok


async def _play_story(
    story: Story, handle: Handle, starts: dict[str, datetime], scale: float, budget: float
) -> AppointmentView:
    start = starts[handle.id.removeprefix("appointment-")]
    async with asyncio.timeout(budget):
        await story.play(handle, start, scale)
    return await wait_for_status(handle, {story.ends_as}, timeout=budget)


class _Watcher:
    """Reports each status change and each new timeline entry of one case as it happens."""

    def __init__(self, handle: Handle, board: Board) -> None:
        self.handle = handle
        self.board = board
        self.case = handle.id.removeprefix("appointment-")
        self.seen = 0  # timeline entries already reported

    async def look(self) -> None:
        try:
            view = await self.handle.query(AppointmentWorkflow.status)
        except (WorkflowQueryFailedError, RPCError):
            return
        for entry in view.timeline[self.seen :]:
            # Status entries carry every change, also those shorter than one poll.
            if entry.kind is TimelineKind.STATUS and isinstance(entry.data.get("status"), str):
                self.board.status(self.case, entry.data["status"], why=entry.detail)
            else:
                self.board.event(self.case, entry)
        self.seen = len(view.timeline)
        self.board.status(self.case, view.status.value)

    async def follow(self) -> None:
        while True:
            await self.look()
            await asyncio.sleep(POLL)


async def end_cases(client: Client, handles: list[Handle], reason: str) -> list[str]:
    """Terminate each case that is still open, and the survey a completed visit started (a
    child the case abandons when it closes); the ids ended."""
    ended = []
    every_id = (id_ for handle in handles for id_ in (handle.id, survey_workflow_id(handle.id)))
    for workflow_id in every_id:
        handle = client.get_workflow_handle(workflow_id)
        try:
            description = await handle.describe()
            if description.status is WorkflowExecutionStatus.RUNNING:
                await handle.terminate(reason=reason)
                ended.append(workflow_id)
        except RPCError:
            continue  # gone already, or never started
    return ended
