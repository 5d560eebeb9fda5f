"""Metrics and logs: the Prometheus endpoint after whole lifecycles, JSON log lines with the
workflow and run ids and no PII, tuning settings, and the worker process stopping on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.testing import WorkflowEnvironment

from promptly.config import Settings
from promptly.domain.appointments.models import CallOutcome, RecordCallOutcomeInput
from promptly.observability import JsonFormatter, TextFormatter, redact, temporal_context
from promptly.services.appointments import book
from promptly.services.complaints import file_complaint
from promptly.worker import create_worker, make_client
from promptly.workflows.appointment import AppointmentWorkflow
from tests.complaint_helpers import complaint
from tests.helpers import STAFF, appointment, next_local
from tests.sendgrid_fake import FakeResponse, SendGridFake, error_body
from tests.test_appointment_outage import always_open


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sample(text: str, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    total = 0.0
    found = False
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(?:_total)?(?:\{{(.*)\}})?\s+(\S+)$", line)
        if not match:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(1) or ""))
        if all(have.get(key) == value for key, value in labels.items()):
            total += float(match.group(2))
            found = True
    assert found, f"no {name} {labels} in /metrics"
    return total


async def test_only_the_worker_binds_the_metrics_port(
    env: WorkflowEnvironment, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`promptly api` and `promptly list` start with the worker's environment beside it."""
    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_CONFIG_FILE", "TEMPORAL_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as worker_endpoint:  # the running worker holds the port
        worker_endpoint.bind(("127.0.0.1", 0))
        worker_endpoint.listen()
        port = worker_endpoint.getsockname()[1]
        same = settings.model_copy(
            update={
                "temporal_address": env.client.service_client.config.target_host,
                "metrics_bind": f"127.0.0.1:{port}",
                "log_format": "json",  # a runtime of its own (core logs forwarded)
            }
        )
        client = await make_client(same)  # the API's and the CLI's client
        assert await client.workflow_service.get_system_info(GetSystemInfoRequest())
        with pytest.raises(ValueError, match="(?i)address already in use"):
            await make_client(same, metrics=True)  # a second worker on the host would


async def test_metrics_endpoint_has_business_counters_after_lifecycles(
    env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_CONFIG_FILE", "TEMPORAL_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    port = free_port()
    observed = settings.model_copy(
        update={
            "temporal_address": env.client.service_client.config.target_host,
            "metrics_bind": f"127.0.0.1:{port}",
        }
    )
    caplog.set_level(logging.INFO)
    client = await make_client(observed, metrics=True)  # the worker's: Prometheus endpoint
    async with create_worker(client, observed, pool=pool):
        # A silent client: reminder, three calls (one answered "no answer"), no-show.
        booked_at = await env.get_current_time()
        start = next_local(booked_at + timedelta(hours=72), 2, 10, "Europe/Warsaw")
        handle = await book(env.client, appointment(start), observed, booked_at)
        await env.sleep(start - timedelta(hours=24) + timedelta(minutes=5) - booked_at)
        await handle.execute_update(
            AppointmentWorkflow.record_call_outcome,
            RecordCallOutcomeInput(outcome=CallOutcome.NO_ANSWER, note="", actor=STAFF),
        )
        await handle.result()
        # A complaint nobody handles: filed, supervisor at 24h, breached at 48h.
        filed = await file_complaint(env.client, complaint(), observed)
        await env.sleep(timedelta(hours=49))
        assert (await filed.describe()).status is not None
        await filed.terminate("test over")  # no open case outlives its worker

    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200
    text = response.text
    if os.environ.get("PROMPTLY_DUMP_METRICS"):
        print(text)
    # No SendGrid key here: the messages wait in the outbox, and the counter says so.
    queued = "queued_in_outbox"
    assert (
        sample(text, "promptly_messages", template="confirmation", channel="email", outcome=queued)
        == 1
    )
    assert sample(text, "promptly_messages", template="no_show_notice", outcome=queued) == 1
    assert sample(text, "promptly_reminders", outcome="on_time") == 1
    assert sample(text, "promptly_call_attempts") == 3
    assert sample(text, "promptly_call_outcomes", outcome="no_answer") == 1
    assert sample(text, "promptly_no_shows") == 1
    assert sample(text, "promptly_complaints", sla_state="filed") == 1
    assert sample(text, "promptly_complaints", sla_state="supervisor") == 1
    assert sample(text, "promptly_complaints", sla_state="breached") == 1
    # The SDK's own metrics come out of the same endpoint.
    assert sample(text, "temporal_workflow_completed", workflow_type="AppointmentWorkflow") >= 1

    # Log lines from activities carry the workflow and run ids, and no address.
    sent = [r for r in caplog.records if r.name == "temporalio.activity" and "sent " in r.msg]
    assert sent
    line = json.loads(JsonFormatter().format(sent[0]))
    assert line["workflow_id"].startswith(("appointment-", "complaint-"))
    assert re.fullmatch(r"[0-9a-f-]{36}", line["run_id"])
    assert "@" not in json.dumps(line)


class KeyedSendGrid(SendGridFake):
    """Answers a message whose idempotency key starts with one of `answers` with that status
    (while it is there); every other one as SendGrid would."""

    def __init__(self) -> None:
        super().__init__(api_key="SG.test")
        self.answers: dict[str, int] = {}

    def _by_rules(self, method: str, path: str, headers: Any, raw: bytes, body: Any) -> Any:
        key = str(((body or {}).get("custom_args") or {}).get("idempotency_key", ""))
        status = next((s for p, s in self.answers.items() if key.startswith(p)), None)
        if status is not None:
            return FakeResponse(status, error_body(f"scripted {status}"))
        return super()._by_rules(method, path, headers, raw, body)


async def test_metrics_say_which_reminders_failed_how_late_they_went_and_what_was_given_up(
    env: WorkflowEnvironment,
    settings: Settings,
    pool: AsyncConnectionPool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three visits 47h ahead (the reminder goes at once): one reminder refused (400), one
    held up by a 503 for ten minutes, one visit whose confirmation fails until its budget
    (22h) is spent."""
    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_CONFIG_FILE", "TEMPORAL_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    port = free_port()
    with KeyedSendGrid() as sendgrid:
        observed = always_open(settings).model_copy(
            update={
                "temporal_address": env.client.service_client.config.target_host,
                "metrics_bind": f"127.0.0.1:{port}",
                "sendgrid_api_key": SecretStr("SG.test"),
                "sendgrid_host": sendgrid.url,
            }
        )
        client = await make_client(observed, metrics=True)
        async with create_worker(client, observed, pool=pool):
            booked_at = await env.get_current_time()
            refused, held_up, given_up = (
                appointment(booked_at + timedelta(hours=47)) for _ in range(3)
            )
            sendgrid.answers = {
                f"{refused.workflow_id}/reminder/": 400,
                f"{held_up.workflow_id}/reminder/": 503,
                f"{given_up.workflow_id}/confirmation/": 503,
            }
            handles = [
                await book(env.client, request, observed, booked_at)
                for request in (refused, held_up, given_up)
            ]
            await env.sleep(timedelta(minutes=10))
            del sendgrid.answers[f"{held_up.workflow_id}/reminder/"]
            await env.sleep(timedelta(hours=23))
            views = [await handle.query(AppointmentWorkflow.status) for handle in handles]
            assert views[0].needs_attention == ["reminder not sent"]
            assert views[1].needs_attention == []
            assert views[2].needs_attention == ["confirmation not sent"]
            for handle in handles:
                await handle.terminate("test over")

    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    assert sample(text, "promptly_reminders", outcome="failed") == 1
    assert sample(text, "promptly_reminders", outcome="on_time") == 2
    assert sample(text, "promptly_messages", template="reminder", outcome="rejected") == 1
    # The budget spent: one message given up, however many attempts it took.
    assert sample(text, "promptly_messages", template="confirmation", outcome="abandoned") == 1
    assert sample(text, "promptly_messages", template="confirmation", outcome="retrying") > 10
    # The held-up reminder went after its retries, ten minutes or so late; the other at once.
    lateness = "promptly_reminder_lateness_seconds"
    assert sample(text, f"{lateness}_count") == 2
    assert 600 <= sample(text, f"{lateness}_sum") <= 1300
    assert sample(text, f"{lateness}_bucket", le="60") == 1
    assert sample(text, f"{lateness}_bucket", le="1800") == 2


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("promptly", logging.INFO, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


def test_json_lines_have_the_workflow_context() -> None:
    line = json.loads(
        JsonFormatter().format(
            record(
                "reminder for %s",
                "anna@example.com",
                temporal_workflow={
                    "workflow_id": "appointment-A-1",
                    "run_id": "r-1",
                    "workflow_type": "AppointmentWorkflow",
                    "attempt": 1,
                },
            )
        )
    )
    assert line["message"] == "reminder for <email>"
    assert line["workflow_id"] == "appointment-A-1" and line["run_id"] == "r-1"
    assert line["level"] == "INFO" and line["logger"] == "promptly"
    activity_line = temporal_context(
        record(
            "x",
            temporal_activity={
                "workflow_id": "complaint-K-1",
                "workflow_run_id": "r-2",
                "activity_type": "send_message",
            },
        )
    )
    assert activity_line == {
        "workflow_id": "complaint-K-1",
        "run_id": "r-2",
        "activity_type": "send_message",
    }


def test_text_lines_are_readable_and_masked() -> None:
    text = TextFormatter().format(
        record("call +48 600 100 200", temporal_workflow={"workflow_id": "w", "run_id": "r"})
    )
    assert text.endswith("call <phone> [workflow_id=w run_id=r]")
    assert redact("A-1001 at 2026-12-01T10:00:00+01:00") == "A-1001 at 2026-12-01T10:00:00+01:00"
    assert redact("mail ola.w+x@clinic.example.pl now") == "mail <email> now"


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_api_alone_logs_a_compliance_read_without_a_logging_config(log_format: str) -> None:
    """`promptly api` with no --log-config: uvicorn's default would drop every INFO record of
    the app, and with it the line that says who read a client's history."""
    script = (
        "import logging.config;"
        "from promptly.api.server import default_log_config;"
        "from promptly.config import Settings;"
        f"logging.config.dictConfig(default_log_config(Settings(log_format={log_format!r})));"
        "logging.getLogger('uvicorn.error').info('Started server process [%d]', 7);"
        "logging.getLogger('promptly.api.history').info('history of %s read by %s', 'A-1', 'comp')"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    started, read = ran.stderr.strip().splitlines()
    if log_format == "json":  # uvicorn's own line too: a collector parses every line
        assert json.loads(started)["message"] == "Started server process [7]"
        assert json.loads(read)["message"] == "history of A-1 read by comp"
    else:
        assert "INFO" in started and "uvicorn.error Started server process [7]" in started
        assert "INFO" in read and "promptly.api.history history of A-1 read by comp" in read


def test_the_api_alone_serves_with_the_apps_logging_unless_given_a_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import uvicorn

    from promptly.api import server

    passed: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: passed.append(kwargs["log_config"]))
    monkeypatch.setattr("promptly.dev.ports.refuse_taken_ports", lambda *a, **k: None)
    monkeypatch.setattr(server, "_reach_temporal", lambda settings: None)
    monkeypatch.setenv("PROMPTLY_PLAINTEXT_PAYLOADS", "true")
    server.serve("127.0.0.1", 0)
    given = tmp_path / "logging.json"
    server.serve("127.0.0.1", 0, given)
    default, chosen = passed
    assert default["root"]["handlers"] == ["promptly"] and chosen == str(given)


async def test_worker_uses_the_tuning_settings(
    env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool
) -> None:
    tuned = settings.model_copy(
        update={
            "max_concurrent_activities": 7,
            "max_concurrent_workflow_tasks": 3,
            "max_cached_workflows": 50,
            "graceful_shutdown_timeout": timedelta(seconds=12),
            "sticky_queue_timeout": timedelta(seconds=4),
        }
    )
    config = create_worker(env.client, tuned, pool=pool).config()
    assert config.get("max_concurrent_activities") == 7
    assert config.get("max_concurrent_workflow_tasks") == 3
    assert config.get("max_cached_workflows") == 50
    assert config.get("graceful_shutdown_timeout") == timedelta(seconds=12)
    assert config.get("sticky_queue_schedule_to_start_timeout") == timedelta(seconds=4)
    assert Settings().sticky_queue_timeout == timedelta(seconds=3)  # SDK default: 10 s


async def test_worker_process_logs_json_serves_metrics_and_stops_on_sigterm(
    env: WorkflowEnvironment, database_url: str
) -> None:
    port = free_port()
    environ = {
        key: value for key, value in os.environ.items() if not key.startswith("TEMPORAL_")
    } | {
        "PROMPTLY_DATABASE_URL": database_url,
        "PROMPTLY_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "PROMPTLY_TASK_QUEUE": f"promptly-sigterm-{uuid.uuid4().hex[:8]}",
        "PROMPTLY_LOG_FORMAT": "json",
        "PROMPTLY_METRICS_BIND": f"127.0.0.1:{port}",
        "PROMPTLY_GRACEFUL_SHUTDOWN_TIMEOUT": "PT5S",
        "PROMPTLY_PLAINTEXT_PAYLOADS": "true",  # no codec keys in this test
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from promptly.worker import main; main()",
        env=environ,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    lines: list[str] = []
    try:
        while not any("worker polling" in line for line in lines):
            raw = await asyncio.wait_for(process.stderr.readline(), timeout=60)
            assert raw, f"worker exited early: {lines}"
            lines.append(raw.decode())
        async with httpx.AsyncClient() as http:
            metrics = await http.get(f"http://127.0.0.1:{port}/metrics")
            assert metrics.status_code == 200
            # The pending-send gauges, counted from PostgreSQL as the worker starts.
            for _ in range(50):
                if "promptly_pending_sends" in metrics.text:
                    break
                await asyncio.sleep(0.1)
                metrics = await http.get(f"http://127.0.0.1:{port}/metrics")
        for channel in ("email", "sms"):
            for gauge in ("promptly_pending_sends", "promptly_oldest_pending_send_seconds"):
                assert sample(metrics.text, gauge, channel=channel) >= 0
        process.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(process.stderr.read(), timeout=60)
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    lines += rest.decode().splitlines()
    parsed = [json.loads(line) for line in lines if line.strip()]
    messages = [entry["message"] for entry in parsed]
    assert any(m.startswith("worker polling promptly-sigterm-") for m in messages)
    assert "stopping: in-flight activities have 0:00:05 to finish" in messages
    assert messages[-1] == "worker stopped"


def test_grafana_dashboard_charts_every_business_metric() -> None:
    from pathlib import Path

    from promptly.domain import metrics

    path = Path(__file__).parent.parent / "docs" / "grafana-dashboard.json"
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    exprs = " ".join(t["expr"] for p in panels for t in p["targets"])
    names = [value for key, value in vars(metrics).items() if key.isupper() and key != "HELP"]
    assert names
    for name in names:
        assert name in exprs, f"{name} is on no panel"
    assert "temporal_workflow_task_schedule_to_start_latency_bucket" in exprs
    for p in panels:
        assert p["datasource"]["uid"] == "${DS_PROMETHEUS}"
