"""Chaos: appointment lifecycles while the worker is SIGKILLed, PostgreSQL stops and SendGrid
throttles then fails — and the same lifecycles without faults as control.

    python -m bench.chaos --n 300 --booking-rate 0.6 --workers 2   # `make chaos`
    python -m bench.chaos --quick     # 20 lifecycles, shorter durations

Starts a Temporal dev server, an embedded PostgreSQL, a SendGrid fake and a Twilio fake
(all temporary), and the worker as a separate process (`python -m promptly.worker`;
`--workers N` for N of them, killed one at a time, in turn) that a supervisor restarts
whenever it is dead. Policy durations are compressed by `--time-scale` (default 4e-4: the
50h from booking to visit in 72 s). Each run books N appointments over max(30 s, N/R s) (R:
`--booking-rate`, bookings per second, default 3): half are acknowledged, confirmed, checked
in and completed; a fifth are rescheduled within seconds of booking (while the confirmation
is in flight); a fifth are cancelled at a random moment; a tenth stay silent (calls,
supervisor alerts, no-show). 3 clients in 10 (`--sms-share`) prefer SMS, sent through the
`twilio` client to the Twilio fake; the others get email. The fault run adds: the worker
SIGKILLed every 5–10 s; PostgreSQL stopped for 20 s at 30% of the booking-to-visit span;
SendGrid answering 429 (Retry-After: 10) for 30 s and then 503 for 30 s from 50% of it; and
from 10% of it, Twilio taking the next 3 SMS and dropping each connection without an answer
(an outcome the worker cannot know).

Prints one JSON line: the fault run's numbers (bench/chaos_metrics.py says exactly how each
is counted) with the control run's under `control`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import secrets
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError, RPCStatusCode

from bench import chaos_sms
from bench.chaos_metrics import (
    Change,
    Delivery,
    FailedSend,
    LedgerRow,
    StaffTaskRow,
    TimerLateness,
    compute,
    lateness_summary,
    recovery_after_kills,
)
from bench.chaos_stack import (
    PhasedSendGrid,
    Postgres,
    Supervisor,
    TimedTwilio,
    Workers,
    embedded_postgres,
    worker_processes,
)
from bench.common import add_settings_option, worker_settings
from promptly import db
from promptly.config import Settings
from promptly.dev.stack import temporal_dev_server
from promptly.domain.appointments.models import (
    AcknowledgeInput,
    AppointmentRequest,
    AppointmentView,
    CancelInput,
    CheckInInput,
    CompleteInput,
    ConfirmInput,
    RescheduleInput,
)
from promptly.domain.common import Actor, ActorKind
from promptly.services.appointments import book
from promptly.services.setup import register_search_attributes
from promptly.worker import data_converter
from promptly.workflows.appointment import AppointmentWorkflow

LEAD = timedelta(hours=50)  # booking → visit: reminder due 2h after booking, calls after 26h
CHECK_IN_BEFORE = timedelta(hours=1)  # check-in opens 2h before the start
# The shortest visit a booking may have. Visit lengths are not compressed by the time scale
# (they are the client's, not the policy's): the survey goes out this long after the start.
VISIT = timedelta(minutes=5)
SURVEY_CLOSES_AFTER = timedelta(hours=26)  # a week would keep the run waiting for nothing
# A workflow still running this long after the last moment its own rules planned is stuck.
STUCK_GRACE_S = 60.0
# The fault run's SMS that Twilio takes without answering (the connection drops).
TWILIO_UNANSWERED = 3
CLIENT = Actor(kind=ActorKind.CLIENT, id="chaos")
DESK = Actor(kind=ActorKind.STAFF, id="chaos")
PROVIDER = Actor(kind=ActorKind.PROVIDER, id="P-1")
UPDATE_PATIENCE_S = 180.0
CLOSED_OK = {WorkflowExecutionStatus.COMPLETED, WorkflowExecutionStatus.CONTINUED_AS_NEW}


def _request(
    appointment_id: str, start: datetime, channel: dict[str, str] | None = None
) -> AppointmentRequest:
    return AppointmentRequest.model_validate(
        {
            "appointment_id": appointment_id,
            "client": {
                "id": f"C-{appointment_id}",
                "name": "Chaos Client",
                "email": f"{appointment_id.lower()}@example.com",
                "preferred_channel": "email",
                "locale": "en",
                "timezone": "Europe/Warsaw",
                **(channel or {}),
            },
            "provider": {"id": "P-1", "name": "Chaos Provider", "email": "provider@example.com"},
            "service": "Consultation",
            "location": "Room 1",
            "start": start.isoformat(),
            "duration_minutes": int(VISIT.total_seconds() // 60),
        }
    )


async def _until(moment: datetime) -> None:
    await asyncio.sleep(max((moment - datetime.now(UTC)).total_seconds(), 0))


@dataclass
class Driver:
    client: Client
    settings: Settings
    scale: float
    rng: random.Random
    sms: frozenset[int] = frozenset()  # the lifecycles whose client prefers SMS
    changes: list[Change] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    latest_start: datetime = datetime.min.replace(tzinfo=UTC)
    refusals: int = 0
    errors: list[str] = field(default_factory=list)

    async def update(self, handle: WorkflowHandle[Any, Any], method: Any, arg: Any) -> bool:
        """One update under a stable id, repeated while Temporal or the worker is away;
        False if the case's rules refused it."""
        update_id = f"chaos-{uuid.uuid4()}"
        began = time.monotonic()
        while True:
            try:
                async with asyncio.timeout(30):
                    await handle.execute_update(method, arg, id=update_id)
                self.latencies.append(time.monotonic() - began)
                return True
            except WorkflowUpdateFailedError:
                self.refusals += 1
                return False
            except (TimeoutError, RPCError, WorkflowUpdateRPCTimeoutOrCancelledError) as err:
                if isinstance(err, RPCError) and err.status is RPCStatusCode.NOT_FOUND:
                    self.refusals += 1  # the case closed meanwhile
                    return False
                if time.monotonic() - began > UPDATE_PATIENCE_S:
                    self.errors.append(f"{handle.id}: {method.__name__}: {err!r}")
                    return False
            except Exception as err:  # noqa: BLE001 - recorded, the run goes on
                self.errors.append(f"{handle.id}: {method.__name__}: {err!r}")
                return False

    async def change(self, handle: WorkflowHandle[Any, Any], method: Any, arg: Any) -> None:
        requested = time.time()
        if await self.update(handle, method, arg):
            self.changes.append(Change(handle.id, requested, time.time()))

    def planned(self, start: datetime) -> datetime:
        self.latest_start = max(self.latest_start, start)
        return start

    async def visit(self, handle: WorkflowHandle[Any, Any], start: datetime) -> None:
        """Checked in before the start, completed once the visit began (a `complete` before
        the start is refused: the case would wait for the system's auto-completion)."""
        await _until(start - CHECK_IN_BEFORE * self.scale)
        if await self.update(handle, AppointmentWorkflow.check_in, CheckInInput(actor=DESK)):
            await _until(start + timedelta(seconds=0.5))
            await self.update(handle, AppointmentWorkflow.complete, CompleteInput(actor=DESK))

    async def lifecycle(self, index: int, prefix: str, arrive_at: float) -> str:
        await asyncio.sleep(max(arrive_at - time.monotonic(), 0))
        now = datetime.now(UTC)
        start = self.planned(now + LEAD * self.scale)
        channel = chaos_sms.contact(index) if index in self.sms else None
        request = _request(f"{prefix}-{index:04d}", start, channel)
        handle = await book(self.client, request, self.settings, now)
        kind = index % 10
        if kind <= 4:  # the quiet case
            await asyncio.sleep(self.rng.uniform(0.5, 3))
            await self.update(
                handle, AppointmentWorkflow.acknowledge, AcknowledgeInput(actor=PROVIDER)
            )
            await self.update(handle, AppointmentWorkflow.confirm, ConfirmInput(actor=CLIENT))
            await self.visit(handle, start)
        elif kind <= 6:  # moved while its confirmation is in flight
            await asyncio.sleep(self.rng.uniform(0.1, 3))
            new_start = self.planned(datetime.now(UTC) + LEAD * self.scale)
            await self.change(
                handle,
                AppointmentWorkflow.reschedule,
                RescheduleInput(new_start=new_start, actor=CLIENT),
            )
            await self.update(handle, AppointmentWorkflow.confirm, ConfirmInput(actor=CLIENT))
            await self.visit(handle, new_start)
        elif kind <= 8:  # cancelled at any moment before the visit
            lead_s = (LEAD * self.scale).total_seconds()
            await asyncio.sleep(self.rng.uniform(0.1, lead_s * 0.9))
            await self.change(
                handle, AppointmentWorkflow.cancel, CancelInput(reason="chaos", actor=CLIENT)
            )
        return handle.id


@dataclass
class RunResult:
    outcome: dict[str, Any]
    duration_s: float


def _database_on(server_url: str, name: str) -> str:
    base, _, query = server_url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


async def _faults(
    worker: Workers,
    postgres: Postgres,
    fake: PhasedSendGrid,
    twilio: TimedTwilio,
    span_s: float,
    stop: asyncio.Event,
    windows: list[tuple[float, float]],
    rng: random.Random,
    database_windows: list[tuple[float, float]],
) -> None:
    async def killer() -> None:
        # 5–10 s after each start reached polling: a start that is slow on a loaded machine
        # is still killed in its stride, not before it could do anything.
        polled = 0
        while not stop.is_set():
            while worker.polling_starts() <= polled:
                if stop.is_set():
                    return
                await asyncio.sleep(0.2)
            try:
                await asyncio.wait_for(stop.wait(), rng.uniform(5, 10))
            except TimeoutError:
                polled = worker.polling_starts()
                worker.kill()

    async def postgres_outage() -> None:
        await asyncio.sleep(span_s * 0.3)
        began = time.time()
        await asyncio.to_thread(postgres.stop)
        await asyncio.sleep(20)
        await asyncio.to_thread(postgres.start)
        windows.append((began, time.time()))
        database_windows.append((began, time.time()))

    async def sendgrid_outage() -> None:
        await asyncio.sleep(span_s * 0.5)
        began = time.time()
        fake.fail_with(429, retry_after=10)
        await asyncio.sleep(30)
        fake.fail_with(503)
        await asyncio.sleep(30)
        fake.recover()
        windows.append((began, time.time()))

    async def twilio_no_answer() -> None:
        # Twilio takes each SMS, and the connection drops before its answer: at once, so the
        # attempt sees it (an answer past the 10 s client timeout would mostly meet a kill
        # first, which the ledger's in-flight mark already covered).
        await asyncio.sleep(span_s * 0.1)
        twilio.hang_up(times=TWILIO_UNANSWERED)

    await asyncio.gather(killer(), postgres_outage(), sendgrid_outage(), twilio_no_answer())


async def _settle(
    client: Client, ids: list[str], deadline: float
) -> tuple[int, int, dict[str, int]]:
    """Wait until every case and survey closed or the deadline; (failed, still running, and
    how the failed ended and where the running stand), printing the first failures' causes."""
    pending = list(ids) + [f"survey-{wid}" for wid in ids]
    failed = 0
    states: dict[str, int] = {}
    while True:
        still: list[str] = []
        for wid in pending:
            try:
                described = await client.get_workflow_handle(wid).describe()
            except RPCError as err:
                if err.status is RPCStatusCode.NOT_FOUND:
                    continue  # no survey for this case
                still.append(wid)
                continue
            if described.status is WorkflowExecutionStatus.RUNNING:
                still.append(wid)
            elif described.status not in CLOSED_OK:
                failed += 1
                name = described.status.name if described.status else "?"
                states[f"closed:{name}"] = states.get(f"closed:{name}", 0) + 1
                if failed <= 3:
                    try:
                        await client.get_workflow_handle(wid).result()
                    except Exception as err:  # noqa: BLE001 - shown for the reader
                        cause = getattr(err, "cause", None)
                        print(f"chaos: {wid} {name}: {err!r} {cause!r}", file=sys.stderr)
        pending = still
        if not pending or time.monotonic() > deadline:
            break
        await asyncio.sleep(2)
    for wid in pending:
        state = "survey" if wid.startswith("survey-") else "appointment"
        if state == "appointment":
            try:
                handle = client.get_workflow_handle(wid, result_type=AppointmentView)
                # Bounded: a backlogged worker answers late, and each stuck case is asked.
                view = await handle.query(
                    AppointmentWorkflow.status, rpc_timeout=timedelta(seconds=5)
                )
                state = f"appointment:{view.status.value}"
            except Exception:  # noqa: BLE001 - a case that cannot answer is stuck too
                state = "appointment:no answer"
        states[f"running:{state}"] = states.get(f"running:{state}", 0) + 1
    return failed, len(pending), states


def _seconds(event: Any) -> float:
    return float(event.event_time.seconds + event.event_time.nanos / 1e9)


async def _timers(client: Client, queue: str) -> list[TimerLateness]:
    """Every fired timer of every run on the queue (cases, surveys, earlier runs of a case
    that continued as new), with the first workflow task completed after it."""
    found: list[TimerLateness] = []
    async for execution in client.list_workflows(f'TaskQueue = "{queue}"'):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        fired: list[float] = []
        async for event in handle.fetch_history_events():
            if event.HasField("timer_fired_event_attributes"):
                fired.append(_seconds(event))
            elif event.HasField("workflow_task_completed_event_attributes") and fired:
                acted = _seconds(event)
                found.extend(TimerLateness(at, acted) for at in fired)
                fired = []
    return found


async def _explain_lost(client: Client, url: str, keys: list[str], data: Path, label: str) -> None:
    """For the reader: each lost message's ledger row and its case's timeline on stderr, and
    the case's histories (every run) as JSON beside the run's files (`--keep` keeps them)."""
    cases = sorted({key.split("/", 1)[0] for key in keys})
    with psycopg.connect(url) as conn:
        for key in keys:
            for found in conn.execute(
                """SELECT status, attempts, last_error, requested_at, created_at, sent_at
                     FROM messages WHERE idempotency_key = %s""",
                (key,),
            ):
                print(f"chaos {label}: lost {key}: {found!r}", file=sys.stderr)
        for case_id in cases:
            for at, kind, summary in conn.execute(
                """SELECT at, kind, detail FROM timeline_events WHERE case_id = %s
                    ORDER BY seq""",
                (case_id,),
            ):
                print(
                    f"chaos {label}:   {case_id} {at:%H:%M:%S.%f} {kind}: {summary}",
                    file=sys.stderr,
                )
    for case_id in cases:
        async for execution in client.list_workflows(f'WorkflowId = "{case_id}"'):
            handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
            history = await handle.fetch_history()
            path = data / f"history-{label}-{case_id}-{execution.run_id}.json"
            path.write_text(history.to_json())
            print(f"chaos {label}: history {path}", file=sys.stderr)


def _collect(url: str) -> tuple[list[LedgerRow], list[FailedSend], list[StaffTaskRow]]:
    with psycopg.connect(url) as conn:
        ledger = [
            LedgerRow(key, case_id, template, status, created.timestamp(), last_error)
            for key, case_id, template, status, created, last_error in conn.execute(
                """SELECT idempotency_key, case_id, template, status, created_at, last_error
                     FROM messages WHERE channel = 'email'"""
            )
        ]
        failed = [
            FailedSend(case_id, template)
            for case_id, template in conn.execute(
                """SELECT case_id, data->>'template' FROM timeline_events
                    WHERE kind = 'message_failed' AND data->>'channel' = 'email'"""
            )
        ]
        tasks = [
            StaffTaskRow(case_id, kind, data)
            for case_id, kind, data in conn.execute(
                "SELECT case_id, kind, data::text FROM staff_tasks"
            )
        ]
    return ledger, failed, tasks


async def run_once(
    n: int,
    scale: float,
    booking_rate: float,
    faults: bool,
    postgres: Postgres,
    address: str,
    data: Path,
    seed: int,
    deployment: Deployment,
    sms_share: float,
) -> RunResult:
    label = "faults" if faults else "control"
    name = f"chaos_{label}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _database_on(postgres.url, name)
    db.upgrade(url)
    queue = f"chaos-{label}-{uuid.uuid4().hex[:6]}"
    settings = Settings(
        database_url=url,
        temporal_address=address,
        task_queue=queue,
        time_scale=scale,
        survey_closes_after=SURVEY_CLOSES_AFTER,
        link_secret=secrets.token_urlsafe(48),  # no default secret: a random one per run
    )
    rng = random.Random(seed)
    with PhasedSendGrid(api_key="SG.chaos") as fake, TimedTwilio() as twilio:
        env = {
            "PROMPTLY_DATABASE_URL": url,
            "PROMPTLY_TEMPORAL_ADDRESS": address,
            "TEMPORAL_ADDRESS": address,
            "PROMPTLY_TASK_QUEUE": queue,
            "PROMPTLY_TIME_SCALE": repr(scale),
            "PROMPTLY_SURVEY_CLOSES_AFTER": f"PT{int(SURVEY_CLOSES_AFTER.total_seconds())}S",
            "PROMPTLY_SENDGRID_API_KEY": "SG.chaos",
            "PROMPTLY_SENDGRID_HOST": fake.url,
            "PROMPTLY_LINK_SECRET": settings.master_secret(),
            "PROMPTLY_PLAINTEXT_PAYLOADS": "true",  # a throwaway stack with no codec keys
            **twilio.worker_env(),
            **{f"PROMPTLY_{name.upper()}": value for name, value in deployment.settings.items()},
        }
        runtime = Runtime(
            telemetry=TelemetryConfig(
                logging=LoggingConfig(
                    filter=TelemetryFilter(core_level="ERROR", other_level="ERROR")
                )
            )
        )
        client = await Client.connect(
            address, data_converter=data_converter(settings), runtime=runtime
        )
        with (
            worker_processes(env, data, label, deployment.workers, deployment.code) as worker,
            Supervisor(worker),
        ):
            driver = Driver(client, settings, scale, rng, chaos_sms.sms_clients(n, sms_share, seed))
            lead_s = (LEAD * scale).total_seconds()
            arrivals_s = max(30.0, n / booking_rate)
            began = time.monotonic()
            stop = asyncio.Event()
            windows: list[tuple[float, float]] = []
            database_windows: list[tuple[float, float]] = []
            span_s = lead_s + arrivals_s / 2
            chaos = (
                asyncio.create_task(
                    _faults(
                        worker,
                        postgres,
                        fake,
                        twilio,
                        span_s,
                        stop,
                        windows,
                        rng,
                        database_windows,
                    )
                )
                if faults
                else None
            )
            outcomes = await asyncio.gather(
                *(
                    driver.lifecycle(i, f"{label[0].upper()}{seed}", began + arrivals_s * i / n)
                    for i in range(n)
                ),
                return_exceptions=True,
            )
            ids = [o for o in outcomes if isinstance(o, str)]
            driver.errors += [repr(o) for o in outcomes if isinstance(o, BaseException)]
            # The faults go on until the last survey is due.
            rules = settings.appointment_policy()
            last_visit_end = driver.latest_start + VISIT
            await _until(last_visit_end + rules.survey_after_end)
            stop.set()
            if chaos is not None:
                await chaos
            # Every workflow must have closed by the last moment its rules plan, plus a grace:
            # a visit's survey closes, a visit nobody completed is closed by the system and
            # kept open for late updates, a no-show's fee decision window ends.
            last_planned = max(
                last_visit_end + rules.survey_after_end + rules.survey_closes_after,
                last_visit_end + rules.auto_complete_after_end + rules.keep_open_after_close,
                driver.latest_start + rules.no_show_after + rules.fee_decision_window,
            )
            settle_s = (last_planned - datetime.now(UTC)).total_seconds() + STUCK_GRACE_S
            failed, stuck, states = await _settle(client, ids, time.monotonic() + settle_s)
            await asyncio.sleep(3)  # the last deliveries' ledger writes
            duration = time.monotonic() - began
            kills = list(worker.kills)
            starts = worker.starts
        timers = await _timers(client, queue)
    ledger, failed_sends, tasks = _collect(url)
    deliveries = [Delivery(a.key, a.status, a.at) for a in fake.log if a.key]
    metrics = compute(ledger, failed_sends, tasks, deliveries, driver.changes, kills, windows)
    sms_record = chaos_sms.collect(url)
    sms = chaos_sms.count(
        sms_record, twilio.accepted, tasks, driver.changes, kills, windows + twilio.unanswered
    )
    # What the counting read, to recount or look up a case later (kept with `--keep`).
    (data / f"inputs-{label}.json").write_text(
        json.dumps(
            {
                "ledger": [dataclasses.asdict(r) for r in ledger],
                "failed_sends": [dataclasses.asdict(f) for f in failed_sends],
                "tasks": [dataclasses.asdict(t) for t in tasks],
                "deliveries": [dataclasses.asdict(d) for d in deliveries],
                **sms_record.inputs(twilio.accepted),
                "changes": [dataclasses.asdict(c) for c in driver.changes],
                "kills": kills,
                "fault_windows": windows,
                "twilio_unanswered": twilio.unanswered,
                "database_windows": database_windows,
            }
        )
    )
    if metrics.lost_keys or sms.metrics.lost_keys:
        await _explain_lost(client, url, metrics.lost_keys + sms.metrics.lost_keys, data, label)
    chaos_sms.report(sms, label)
    delivered_raw = sum(1 for d in deliveries if 200 <= d.status < 300)
    cuts = (
        statistics.quantiles(driver.latencies, n=100) if len(driver.latencies) > 1 else [0.0] * 99
    )
    for error in driver.errors[:5]:
        print(f"chaos {label}: {error}", file=sys.stderr)
    if starts > len(kills) + deployment.workers:  # starts that failed on their own: show why
        print(f"chaos {label}: worker log tails:", *worker.log_tails(), sep="\n  ", file=sys.stderr)
    return RunResult(
        outcome={
            "n": n,
            "expected_messages": metrics.expected,
            "delivered": metrics.delivered,
            "lost": metrics.lost,
            "duplicated": metrics.duplicated,
            "sent_after_change": metrics.sent_after_change,
            "failed_workflows": failed,
            "stuck_workflows": stuck,
            "unfinished_by_state": states,
            "max_recovery_s": recovery_after_kills(timers, kills, database_windows),
            "max_send_recovery_s": metrics.max_send_recovery_s,
            **lateness_summary(timers),
            "handed_to_staff": metrics.handed_to_staff,
            "moot": metrics.moot,
            "duplicated_pct": round(100 * metrics.duplicated / max(delivered_raw, 1), 2),
            "lost_by_template": metrics.lost_by_template,
            "duplicated_by_template": metrics.duplicated_by_template,
            "accepted_at_fake": delivered_raw,
            "worker_kills": len(kills),
            "worker_starts": starts,
            "changes": len(driver.changes),
            "update_p50_s": round(cuts[49], 2),
            "update_p99_s": round(cuts[98], 2),
            "refused_updates": driver.refusals,
            "driver_errors": len(driver.errors),
            "duration_s": round(duration, 1),
            **chaos_sms.fields(len(driver.sms), sms),
            "sms_unanswered": len(twilio.unanswered),
        },
        duration_s=duration,
    )


@dataclass(frozen=True)
class Deployment:
    """How the worker side runs: processes on the task queue, and Promptly settings
    (`workflow_sandbox=false` becomes PROMPTLY_WORKFLOW_SANDBOX=false)."""

    workers: int = 1
    settings: dict[str, str] = field(default_factory=dict)
    code: Path | None = None  # another checkout's Promptly for the workers (`--worker-code`)


async def measure(
    n: int,
    scale: float,
    booking_rate: float,
    seed: int,
    data: Path,
    deployment: Deployment,
    sms_share: float = chaos_sms.SMS_SHARE,
) -> dict[str, Any]:
    with (
        embedded_postgres(data / "pg") as postgres,
        temporal_dev_server(
            data / "temporal", 17433, 18433, retention_days=1, log_file=data / "temporal.log"
        ) as address,
    ):
        client = await Client.connect(address)
        await register_search_attributes(client, "default")
        control = await run_once(
            n, scale, booking_rate, False, postgres, address, data, seed, deployment, sms_share
        )
        chaos = await run_once(
            n, scale, booking_rate, True, postgres, address, data, seed, deployment, sms_share
        )
    return {
        "bench": "chaos",
        **chaos.outcome,
        "time_scale": scale,
        "booking_rate": booking_rate,
        "workers": deployment.workers,
        "sms_share": sms_share,
        **({"settings": deployment.settings} if deployment.settings else {}),
        **({"worker_code": str(deployment.code)} if deployment.code else {}),
        "control": control.outcome,
    }


def _interrupt_on_sigterm() -> None:
    """SIGTERM (a `timeout`, a CI cancel) unwinds like Ctrl-C, so every server and worker
    this benchmark started is stopped."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main() -> None:
    _interrupt_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300, help="lifecycles per run")
    parser.add_argument("--quick", action="store_true", help="20 lifecycles, shorter durations")
    parser.add_argument("--time-scale", type=float, default=4e-4)
    parser.add_argument(
        "--booking-rate",
        type=float,
        default=3.0,
        help="bookings per second (the run books over max(30 s, N/rate)); lower spreads the "
        "lifecycles so fewer run at once",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes on the task queue; the faults kill one at a time, in turn",
    )
    parser.add_argument(
        "--sms-share",
        type=float,
        default=chaos_sms.SMS_SHARE,
        help="share of the clients who prefer SMS (0: every client on email)",
    )
    parser.add_argument(
        "--worker-code",
        type=Path,
        help="a checkout of another commit (git worktree): the workers import Promptly from "
        "there, the benchmark and its migrations stay this checkout's",
    )
    add_settings_option(parser)
    parser.add_argument(
        "--keep",
        type=Path,
        help="keep the run's files here (dev server database, PostgreSQL, worker logs, the "
        "histories of cases with a lost message) instead of a temporary directory",
    )
    args = parser.parse_args()
    n, scale = (20, 3e-4) if args.quick else (args.n, args.time_scale)
    deployment = Deployment(
        workers=args.workers,
        settings=worker_settings(args.set),
        code=args.worker_code.resolve() if args.worker_code else None,
    )
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        _run(n, scale, args, args.keep, deployment)
        return
    with tempfile.TemporaryDirectory(prefix="promptly-chaos-") as data:
        _run(n, scale, args, Path(data), deployment)


def _run(
    n: int, scale: float, args: argparse.Namespace, data: Path, deployment: Deployment
) -> None:
    line = asyncio.run(
        measure(n, scale, args.booking_rate, args.seed, data, deployment, args.sms_share)
    )
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
