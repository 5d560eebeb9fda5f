"""`promptly` for ops: every appointment update and the staff task inbox from the terminal,
against a real Temporal dev server and PostgreSQL, as an operator types them."""

from __future__ import annotations

import asyncio
import getpass
import os
import re
import socket
import subprocess
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from psycopg_pool import AsyncConnectionPool
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from promptly.cli.main import app
from promptly.config import Settings
from promptly.domain.readable_time import readable
from promptly.worker import create_worker
from promptly.workflows.appointment import AppointmentWorkflow
from tests.complaint_helpers import complaint, complaint_payload, inquiry
from tests.conftest import Promptly
from tests.helpers import (
    appointment,
    billing,
    message_of,
    messages,
    promptly_process,
    provider_decisions,
    settled,
    tasks,
    until,
)

WARSAW = ZoneInfo("Europe/Warsaw")


async def test_an_operator_runs_a_phone_clients_appointment_from_the_terminal(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    promptly: Promptly,
    tmp_path: Path,
) -> None:
    start = datetime.now(WARSAW).replace(hour=10, minute=0, second=0, microsecond=0)
    request = appointment(start + timedelta(days=6), channel="phone")
    booking = tmp_path / "appointment.json"
    booking.write_text(request.model_dump_json())
    async with create_worker(dev_env.client, settings, pool=pool):
        booked = await promptly("book", str(booking), "--actor-id", "olga")
        assert booked.exit_code == 0, booked.output
        assert booked.stdout.strip() == f"booked: {request.workflow_id}"
        # The same file again is the booking that exists (the API's 200); other details
        # under the same id are refused naming them (the API's 409).
        again = await promptly("book", str(booking))
        assert again.exit_code == 0, again.output
        assert again.stdout.strip() == f"already booked: {request.workflow_id} (same details)"
        other = tmp_path / "other.json"
        other.write_text(request.model_copy(update={"service": "Massage"}).model_dump_json())
        clash = await promptly("book", str(other))
        assert clash.exit_code == 1 and "different details (service)" in clash.output
        header, columns = await _listed(promptly, request.workflow_id, "list")
        assert header.split() == ["id", "status", "visit"]
        assert columns[0] == request.workflow_id

        # The confirmation of a phone client is a call for the front desk.
        for _ in range(100):
            listed = await promptly("tasks", "list", "--case", request.workflow_id)
            if "call_client" in listed.stdout:
                break
            await asyncio.sleep(0.1)
        header, row = listed.stdout.splitlines()
        assert header.split() == ["id", "due", "visit", "kind", "assignee", "status", "title"]
        task_id = row.split()[0]
        assert "call_client" in row and "front_desk" in row and "open" in row
        # The visit's start, in office time, beside when the call is due.
        assert readable(request.start, settings.office_timezone) in row, row
        # The desk reads the whole task: whom to call, in English as every task's title, the
        # script to say in the client's language, and the number to call.
        shown = await promptly("tasks", "show", task_id)
        assert shown.exit_code == 0, shown.output
        title = shown.stdout.splitlines()[0].split(": ", 1)[1]
        assert title.startswith("Call Anna Nowak to confirm Physiotherapy consultation on ")
        assert "Zadzwoń" not in shown.stdout and "read out" not in shown.stdout
        assert "Potwierdź telefonicznie (klient: Anna Nowak" in shown.stdout
        assert "Numer referencyjny" in shown.stdout
        assert "phone: +48600100200" in shown.stdout

        confirmed = await promptly(
            "tasks", "complete", task_id, "reached_confirmed", "--actor-id", "ewa"
        )
        assert confirmed.exit_code == 0, confirmed.output
        said = f"task {task_id} done: reached_confirmed (staff:ewa via cli)"
        assert confirmed.stdout.strip() == said
        status = await promptly("status", request.appointment_id)
        assert f"{request.appointment_id}  Confirmed" in status.stdout
        assert "client confirmed" in status.stdout and "response deadline" not in status.stdout
        assert "staff:ewa via cli" in status.stdout
        # Who booked it opens the timeline, named by the operator and recorded as via the CLI.
        assert re.search(r"staff:olga via cli +Booked ", status.stdout), status.stdout
        again = await promptly("tasks", "complete", task_id, "reached")
        assert again.exit_code == 1 and "already done" in again.output

        acknowledged = await promptly("acknowledge", request.appointment_id, "--actor-id", "P-3")
        assert acknowledged.exit_code == 0, acknowledged.output
        assert "provider:P-3 via cli" in acknowledged.stdout

        naive = await promptly("reschedule", request.appointment_id, "2030-01-07T10:00:00")
        assert naive.exit_code == 2 and "UTC offset" in naive.output
        new_start = (start + timedelta(days=8)).isoformat()
        moved = await promptly("reschedule", request.appointment_id, new_start)
        assert moved.exit_code == 0, moved.output
        assert f"visit {readable(start + timedelta(days=8), 'Europe/Warsaw')}" in moved.stdout

        cancelled = await promptly("cancel", request.appointment_id, "moving away")
        assert cancelled.exit_code == 0, cancelled.output
        assert f"{request.appointment_id}  Cancelled" in cancelled.stdout
        # A closed visit has no reminder or call ahead: its billing outcome instead.
        assert "closed: no reminder or call ahead  billing cancelled_free" in cancelled.stdout
        assert "reminder at" not in cancelled.stdout, cancelled.stdout
        refused = await promptly("check-in", request.appointment_id)
        assert refused.exit_code == 1
        said = "check_in refused: the appointment is already Cancelled"
        assert refused.output.splitlines()[-1] == said, refused.output
        done = await promptly("tasks", "list", "--case", request.workflow_id, "--status", "done")
        assert "reached_confirmed" in done.stdout


async def test_a_fee_decision_from_the_terminal_is_recorded_as_who_ran_it_via_the_cli(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    promptly: Promptly,
    tmp_path: Path,
) -> None:
    """`waive-fee` with no actor named is the operator's own decision, via cli, in the timeline
    and the billing record; naming a provider who is not the visit's is bad input (exit 2)
    and records nothing, as the API's 422 (services/case_parties.py)."""
    request = appointment(datetime.now(WARSAW) + timedelta(hours=20))
    booking = tmp_path / "appointment.json"
    booking.write_text(request.model_dump_json())
    me = f"staff:{getpass.getuser()} via cli"
    async with create_worker(dev_env.client, settings, pool=pool):
        booked = await promptly("book", str(booking))
        assert booked.exit_code == 0, booked.output
        late = await promptly("cancel", request.appointment_id, "cannot come")
        assert late.exit_code == 0 and "LateCancelled" in late.stdout, late.output

        stranger = await promptly(
            "waive-fee",
            request.appointment_id,
            "goodwill",
            "--actor-kind",
            "provider",
            "--actor-id",
            "P-999",
        )
        assert stranger.exit_code == 2, stranger.output
        assert "P-999 is not this appointment's provider" in stranger.output
        assert [row[0] for row in await billing(pool, request.workflow_id)] == ["late_cancel"]

        waived = await promptly("waive-fee", request.appointment_id, "goodwill")
        assert waived.exit_code == 0, waived.output
        assert re.search(rf"decision +{re.escape(me)} +Billing: waived \(goodwill\)", waived.stdout)
        async with pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT outcome, decided_by_kind, decided_by_id, decided_via"
                " FROM billing_outcomes WHERE case_id = %s ORDER BY id",
                (request.workflow_id,),
            )
            rows = await cursor.fetchall()
        assert rows[-1] == ("waived", "staff", getpass.getuser(), "cli")
        # The first line of the timeline names who booked it, the same way.
        assert re.search(rf"{re.escape(me)} +Booked ", waived.stdout), waived.stdout


async def test_a_repeated_command_with_its_idempotency_key_is_applied_once(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    promptly: Promptly,
    tmp_path: Path,
) -> None:
    # Within 2 h: a delay is reported on the visit's day.
    start = datetime.now(WARSAW).replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    request = appointment(start)
    booking = tmp_path / "appointment.json"
    booking.write_text(request.model_dump_json())
    async with create_worker(dev_env.client, settings, pool=pool):
        assert (await promptly("book", str(booking))).exit_code == 0

        first = await promptly("delay", request.appointment_id, "10", "traffic")
        assert first.exit_code == 0, first.output
        printed = [line for line in first.stderr.splitlines() if "idempotency key:" in line]
        assert len(printed) == 1, first.stderr
        key = printed[0].split("idempotency key:")[1].strip()

        again = await promptly(
            "delay", request.appointment_id, "10", "traffic", "--idempotency-key", key
        )
        assert again.exit_code == 0, again.output
        assert again.stdout == first.stdout, "the first outcome, printed again"
        status = await promptly("status", request.appointment_id)
        assert status.stdout.count("Provider delayed by 10 min") == 1

        other = await promptly("delay", request.appointment_id, "10", "traffic")
        assert other.exit_code == 0, other.output
        status = await promptly("status", request.appointment_id)
        assert status.stdout.count("Provider delayed by 10 min") == 2

        bad = await promptly("delay", request.appointment_id, "10", "x", "--idempotency-key", "a b")
        assert bad.exit_code == 2 and "--idempotency-key" in bad.stderr


async def test_the_desk_reports_a_client_running_late_as_the_client(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    promptly: Promptly,
    tmp_path: Path,
) -> None:
    # Within 2 h: a delay is reported on the visit's day.
    start = datetime.now(WARSAW).replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    request = appointment(start)
    booking = tmp_path / "appointment.json"
    booking.write_text(request.model_dump_json())
    async with create_worker(dev_env.client, settings, pool=pool):
        assert (await promptly("book", str(booking))).exit_code == 0
        await message_of(pool, request.workflow_id, "confirmation")

        late = await promptly(
            "delay", request.appointment_id, "10", "client phoned: stuck in traffic",
            "--actor-kind", "client", "--actor-id", "C-17",
        )  # fmt: skip
        assert late.exit_code == 0, late.output
        status = await promptly("status", request.appointment_id)
        assert re.search(r"client:C-17 via cli +Client running 10 min late", status.stdout), (
            status.stdout
        )
        assert "Provider delayed" not in status.stdout
        handle = dev_env.client.get_workflow_handle(request.workflow_id)
        view = await handle.query(AppointmentWorkflow.status)
        assert view.no_show_at == request.start + timedelta(minutes=25)
        await settled(dev_env.client, request.workflow_id)  # a notice would be sent by now
        sent = [m["template"] for m in await messages(pool, request.workflow_id)]
        assert "delay_notice" not in sent, sent

        help_text = await promptly("delay", "--help")
        assert "staff actor counts as the provider" in " ".join(help_text.stdout.split())


async def _listed(promptly: Promptly, workflow_id: str, *command: str) -> tuple[str, list[str]]:
    """A list command's header and the columns of `workflow_id`'s line, once visibility has
    caught up with the case's search attributes. Each column's name heads its values."""
    for _ in range(100):
        listed = await promptly(*command)
        if workflow_id in listed.stdout:
            break
        await asyncio.sleep(0.1)
    header, *rows = listed.stdout.splitlines()
    [row] = [line for line in rows if workflow_id in line]
    # A name starts the line or follows two spaces ("answer due" is one name).
    starts = [m.end() - 1 for m in re.finditer(r"(?:^|\s{2})\S", header)]
    assert all(row[i] != " " and row[i - 1 : i] in ("", " ") for i in starts), (header, row)
    return header, row.split()


async def test_complaint_and_inquiry_commands_spell_their_updates_as_before(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    promptly: Promptly,
    tmp_path: Path,
) -> None:
    """The commands made from the case-kind registry: arguments, renamed flags, by-hand
    options, bad input (exit 2 naming the field) and a refusal by the rules (exit 1)."""
    filed_request = complaint()
    filing = tmp_path / "complaint.json"
    filing.write_text(filed_request.model_dump_json())
    asked = inquiry()
    asking = tmp_path / "inquiry.json"
    asking.write_text(asked.model_dump_json())
    case = filed_request.complaint_id
    async with create_worker(dev_env.client, settings, pool=pool):
        filed = await promptly("complaint", "file", str(filing))
        assert filed.exit_code == 0, filed.output
        assert filed.stdout.strip() == f"filed: {filed_request.workflow_id}"
        again = await promptly("complaint", "file", str(filing))  # the same file: as the API
        assert again.exit_code == 0 and "already filed" in again.output

        held = await promptly(
            "complaint", "hold", case, "waiting for the receipt", "--not-for-answer"
        )
        assert held.exit_code == 0, held.output
        assert f"{case}  OnHold" in held.stdout and "(waiting for the receipt)" in held.stdout
        resumed = await promptly("complaint", "resume", case, "--note", "receipt came")
        assert resumed.exit_code == 0 and f"{case}  Open" in resumed.stdout, resumed.output
        noted = await promptly("complaint", "note", case, "we called back", "--customer")
        assert noted.exit_code == 0, noted.output
        # Nobody named: the person running the command, through the CLI.
        assert f"staff:{getpass.getuser()} via cli" in noted.stdout
        assert "we called back" in noted.stdout

        bad = await promptly("complaint", "close", case, "done", "--root-cause", "no good!")
        assert bad.exit_code == 2 and "root_cause:" in bad.output
        early = await promptly("complaint", "verdict", case, "--satisfied")
        assert early.exit_code == 1
        said = "customer_verdict refused: no resolution has been proposed yet"
        assert early.output.splitlines()[-1] == said, early.output  # not "refused: … refused"
        closed = await promptly("complaint", "close", case, "settled by phone")
        assert closed.exit_code == 0 and f"{case}  Closed" in closed.stdout, closed.output
        header, listed = await _listed(
            promptly, filed_request.workflow_id, "complaint", "list", "--status", "Closed"
        )
        assert header.split() == ["id", "status", "department", "level", "resolution", "due"]
        assert listed[:2] == [filed_request.workflow_id, "Closed"]

        recorded = await promptly("inquiry", "record", str(asking))
        assert recorded.stdout.strip() == f"recorded: {asked.workflow_id}", recorded.output
        answered = await promptly(
            "inquiry", "answer", asked.inquiry_id, "Yes, 9 to 13.", "--actor-id", "ewa"
        )
        assert answered.exit_code == 0, answered.output
        assert f"{asked.inquiry_id}  Answered" in answered.stdout
        assert "staff:ewa via cli" in answered.stdout
        # Times in the office's zone, to the minute, as every other command prints them.
        assert re.search(r"received \d{4}-\d\d-\d\d \d\d:\d\d Europe/Warsaw", answered.stdout)
        header, listed = await _listed(
            promptly, asked.workflow_id, "inquiry", "list", "--status", "Answered"
        )
        assert header.split() == ["id", "status", "answer", "due"]
        assert listed == [asked.workflow_id, "Answered", "due", "-"]
        wrong = await promptly("inquiry", "list", "--status", "Closed")
        assert wrong.exit_code == 2 and "Open" in wrong.output
        # No such cases: no header either, the output stays empty.
        none = await promptly("complaint", "list", "--department", "no_such_department")
        assert none.exit_code == 0 and none.stdout == "", none.output


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["list", "--status", "Bogus"], "'Bogus' is not one of"),
        (["list", "--limit", "0"], "Invalid value for '--limit'"),
        (["complaint", "list", "--status", "Bogus"], "'Bogus' is not one of"),
        (["complaint", "list", "--department", "x y"], "'x y' is no department id"),
        (["inquiry", "list", "--limit", "-5"], "Invalid value for '--limit'"),
        (["tasks", "list", "--provider", "P 3"], "'P 3' is no provider id"),
    ],
)
def test_a_list_filter_the_api_would_refuse_is_refused_here_too(args: list[str], said: str) -> None:
    """Exit 2 naming the value, as the API's 422 would, not an empty list that reads as
    "no such cases"."""
    ended = CliRunner().invoke(app, args)
    assert ended.exit_code == 2, ended.output
    assert said in " ".join(ended.output.split())


def test_a_reschedule_agreed_on_a_call_without_its_time_is_refused_naming_it() -> None:
    """Exit 2 naming new_start before anything is sent, as the API's 422."""
    ended = CliRunner().invoke(app, ["call-outcome", "A-1", "reached_rescheduled"])
    assert ended.exit_code == 2, ended.output
    said = "new_start: required with reached_rescheduled: the time agreed with the client"
    assert said in " ".join(ended.output.split())


async def test_a_provider_lists_their_own_decisions_from_the_terminal(
    pool: AsyncConnectionPool, promptly: Promptly
) -> None:
    """`--assignee provider` lists every provider's decisions; `--provider` one provider's."""
    mine, theirs = (f"P-{uuid.uuid4().hex[:8]}" for _ in range(2))
    filed = await provider_decisions(pool, mine, theirs)
    listed = await promptly("tasks", "list", "--assignee", "provider", "--provider", mine)
    assert listed.exit_code == 0, listed.output
    header, *rows = listed.stdout.splitlines()
    assert header.split()[:5] == ["id", "due", "visit", "kind", "assignee"]
    assert [row.split()[0] for row in rows] == [str(filed[mine])]
    assert "no-show excuse" in rows[0]


async def test_the_desk_records_a_phone_customers_verdict_from_the_terminal(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    promptly: Promptly,
    tmp_path: Path,
) -> None:
    """The customer's verdict on the proposed resolution read out to them, recorded on the
    desk's call task as the API's `satisfied` does (`--satisfied/--not-satisfied`)."""
    customer = complaint_payload()["customer"] | {"preferred_channel": "phone", "locale": "en"}
    request = complaint(customer=customer)
    filing = tmp_path / "complaint.json"
    filing.write_text(request.model_dump_json())
    case = request.complaint_id

    async def proposal_calls() -> list[dict[str, Any]]:
        return [
            t
            for t in await tasks(pool, request.workflow_id)
            if t["kind"] == "call_client" and t["title"].endswith("is this resolved for you?")
        ]

    async with create_worker(dev_env.client, settings, pool=pool):
        filed = await promptly("complaint", "file", str(filing))
        assert filed.exit_code == 0, filed.output
        proposed = await promptly("complaint", "propose", case, "A refund of the visit.")
        assert proposed.exit_code == 0, proposed.output
        [call] = await until(proposal_calls, "the call task reading the proposal out")
        task_id = str(call["id"])
        complete = ("tasks", "complete", task_id, "reached", "--satisfied")

        both = await promptly(*complete, "--score", "3")
        assert both.exit_code == 1
        assert "satisfied: one call answers one question" in both.output
        told = await promptly(*complete, "--note", "thank you", "--actor-id", "ola")
        assert told.exit_code == 0, told.output
        assert told.stdout.strip() == f"task {task_id} done: reached (staff:ola via cli)"
        status = await promptly("complaint", "status", case)
        assert f"{case}  Closed" in status.stdout
        said = f"client:{customer['id']:<12} Customer satisfied with the resolution on the phone "
        assert said + "to ola (thank you)" in status.stdout, status.stdout
        await dev_env.client.get_workflow_handle(request.workflow_id).terminate("test over")


async def test_on_call_reads_a_case_and_the_tasks_while_temporal_is_out_of_reach(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    promptly: Promptly,
    tmp_path: Path,
) -> None:
    """ops.md: during a Temporal outage (refused, or frozen: connections taken, never answered)
    `promptly status` and `promptly tasks list` answer from PostgreSQL without connecting; a
    command that needs Temporal fails at once in one line when it is refused."""
    start = datetime.now(WARSAW).replace(hour=10, minute=0, second=0, microsecond=0)
    request = appointment(start + timedelta(days=6), channel="phone")
    booking = tmp_path / "appointment.json"
    booking.write_text(request.model_dump_json())
    async with create_worker(dev_env.client, settings, pool=pool):
        booked = await promptly("book", str(booking))
        assert booked.exit_code == 0, booked.output
        await until(lambda: tasks(pool, request.workflow_id), "the confirmation call task")
        await settled(dev_env.client, request.workflow_id)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        nowhere = f"127.0.0.1:{probe.getsockname()[1]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")} | {
        "PROMPTLY_TEMPORAL_ADDRESS": nowhere,
        "PROMPTLY_DATABASE_URL": settings.database_url,
        "PROMPTLY_TASK_QUEUE": settings.task_queue,
    }

    def run(*command: str, temporal: str = nowhere) -> subprocess.CompletedProcess[str]:
        return promptly_process(*command, env=env | {"PROMPTLY_TEMPORAL_ADDRESS": temporal})

    with socket.socket() as frozen:  # a Temporal that takes connections and never answers
        frozen.bind(("127.0.0.1", 0))
        frozen.listen()
        frozen.setblocking(False)
        for temporal in (nowhere, f"127.0.0.1:{frozen.getsockname()[1]}"):
            status = await asyncio.to_thread(
                run, "status", request.appointment_id, temporal=temporal
            )
            assert status.returncode == 0, status.stderr
            assert f"{request.appointment_id}  Booked" in status.stdout
            listed = await asyncio.to_thread(
                run, "tasks", "list", "--case", request.workflow_id, temporal=temporal
            )
            assert listed.returncode == 0, listed.stderr
            assert "call_client" in listed.stdout and "front_desk" in listed.stdout
        with pytest.raises(BlockingIOError):  # neither read even tried to connect
            frozen.accept()

    began = time.monotonic()
    cancel = await asyncio.to_thread(run, "cancel", request.appointment_id, "moving away")
    assert time.monotonic() - began < 25  # a process's start: no 30 s wait for an answer
    assert cancel.returncode == 1
    key, said = cancel.stderr.strip().splitlines()  # the key printed, then the one line
    assert key.startswith("idempotency key: ")
    assert said.startswith("promptly: cannot reach Temporal (PROMPTLY_TEMPORAL_ADDRESS"), said
    unknown = await asyncio.to_thread(run, "status", "A-nothing-recorded")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("promptly: cannot reach Temporal"), unknown.stderr
