"""Logs and metrics of the worker and API processes.

- `configure_logging(settings)`: one line per record, JSON (`PROMPTLY_LOG_FORMAT=json`) or
  readable text; lines logged inside a workflow or an activity carry `workflow_id` and
  `run_id` (the SDK's `workflow.logger` / `activity.logger` put them on the record). Email
  addresses and phone numbers that slip into a message are masked.
- `runtime(settings, metrics=...)`: the Temporal runtime of the process: in the worker, the
  SDK's Prometheus endpoint when `PROMPTLY_METRICS_BIND` is set; core logs forwarded to Python
  logging for JSON output.
  Business metrics (`promptly_*`, promptly/domain/metrics.py) are recorded through the
  SDK's metric meters, so they come out of the same endpoint.
- `PendingSendGauges`: the worker's gauges of the sends not gone out yet per channel, counted
  from PostgreSQL every PENDING_SENDS_EVERY.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool
from temporalio import activity, workflow
from temporalio.common import MetricMeter
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from promptly.config import Settings
from promptly.db.pending_sends import ChannelBacklog, pending_by_channel
from promptly.domain import metrics as business_metrics
from promptly.domain.common import Channel

# Every repetition is bounded, so the work per character is bounded: redaction stays linear
# in the input, and a record is cut at MAX_RECORD_CHARS before it is scanned at all.
MAX_RECORD_CHARS = 32_768
_EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
# With or without +/00, spaces, dots, dashes, parentheses; at least 9 digits (checked below).
_PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\d[\d ().-]{7,20}\d(?![\w])")
_DATE_LIKE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}")

# Fields copied from the SDK's `temporal_workflow` / `temporal_activity` record extras.
_WORKFLOW_FIELDS = {
    "workflow_id": "workflow_id",
    "run_id": "run_id",
    "workflow_type": "workflow_type",
    "task_queue": "task_queue",
    "namespace": "namespace",
    "attempt": "attempt",
}
_ACTIVITY_FIELDS = {
    "workflow_id": "workflow_id",
    "workflow_run_id": "run_id",
    "workflow_type": "workflow_type",
    "activity_type": "activity_type",
    "activity_id": "activity_id",
    "task_queue": "task_queue",
    "namespace": "namespace",
    "attempt": "attempt",
}


def _phone(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = sum(char.isdigit() for char in found)
    if digits < 9 or _DATE_LIKE.search(found):  # dates, times, short numbers stay
        return found
    return "<phone>"


def redact(text: str) -> str:
    """Masks email addresses and phone numbers (with or without +); over-long text is cut."""
    if len(text) > MAX_RECORD_CHARS:
        text = text[:MAX_RECORD_CHARS] + f"… [{len(text) - MAX_RECORD_CHARS} characters cut]"
    return _PHONE.sub(_phone, _EMAIL.sub("<email>", text))


def temporal_context(record: logging.LogRecord) -> dict[str, Any]:
    """workflow_id, run_id, … of a record logged by the SDK's workflow or activity logger."""
    context: dict[str, Any] = {}
    sources = (("temporal_activity", _ACTIVITY_FIELDS), ("temporal_workflow", _WORKFLOW_FIELDS))
    for extra, fields in sources:
        details = getattr(record, extra, None)
        if isinstance(details, dict):
            context.update({out: details[key] for key, out in fields.items() if key in details})
    return {key: value for key, value in context.items() if value is not None}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, message, workflow/activity context, error."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        line.update(temporal_context(record))
        if record.exc_info:
            line["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time level logger message [workflow_id run_id]` for a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = redact(super().format(record))
        context = temporal_context(record)
        if "workflow_id" in context:
            text += f" [workflow_id={context['workflow_id']} run_id={context.get('run_id', '-')}]"
        return text


def formatter_for(settings: Settings) -> type[logging.Formatter]:
    """The formatter of every log line, as PROMPTLY_LOG_FORMAT says."""
    return JsonFormatter if settings.log_format == "json" else TextFormatter


def configure_logging(settings: Settings) -> None:
    """Root logging for the process, as the settings ask (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter_for(settings)())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # The context goes into fields, not into the message text (which the SDK does by default).
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False


_runtimes: dict[tuple[str | None, bool], Runtime] = {}

# Histogram buckets of Promptly's own histograms (the SDK's defaults are for latencies in
# milliseconds): a reminder's lateness, from a minute's retries to the hour that makes it late.
HISTOGRAM_BUCKETS: dict[str, list[float]] = {
    business_metrics.REMINDER_LATENESS: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600],
}


def runtime(settings: Settings, *, metrics: bool = False) -> Runtime | None:
    """The process's Temporal runtime for these settings; None: the SDK's default one.

    Only the worker (`metrics=True`) serves `PROMPTLY_METRICS_BIND`: the API and the CLI run
    with the same environment beside it and would find the port taken. A Prometheus endpoint
    can be bound once per process, so runtimes are shared by key.
    """
    forward_logs = settings.log_format == "json"
    bind = settings.metrics_bind if metrics else None
    if bind is None and not forward_logs:
        return None
    key = (bind, forward_logs)
    if key not in _runtimes:
        logging_config = LoggingConfig.default
        if forward_logs:
            logging_config = LoggingConfig(
                filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
            )
        _runtimes[key] = Runtime(
            telemetry=TelemetryConfig(
                logging=logging_config,
                metrics=(
                    PrometheusConfig(
                        bind_address=bind, histogram_bucket_overrides=HISTOGRAM_BUCKETS
                    )
                    if bind
                    else None
                ),
            )
        )
    return _runtimes[key]


# How often the worker counts the sends not gone out yet (a scrape between two counts reads
# the last one): one indexed query on the `messages` ledger.
PENDING_SENDS_EVERY = timedelta(seconds=30)

log = logging.getLogger("promptly.observability")


class PendingSendGauges:
    """`promptly_pending_sends` and `promptly_oldest_pending_send_seconds` per channel, set
    from the `messages` ledger; a channel with none reads 0 (not its last value)."""

    def __init__(self, meter: MetricMeter) -> None:
        names = business_metrics
        self._count = meter.create_gauge(names.PENDING_SENDS, names.HELP[names.PENDING_SENDS])
        self._oldest = meter.create_gauge_float(
            names.OLDEST_PENDING_SEND, names.HELP[names.OLDEST_PENDING_SEND], "s"
        )

    async def record(self, pool: AsyncConnectionPool) -> dict[str, ChannelBacklog]:
        async with pool.connection() as conn:
            backlog = await pending_by_channel(conn)
        for channel in sorted({*(c.value for c in Channel), *backlog}):
            found = backlog.get(channel, ChannelBacklog(0, 0.0))
            self._count.set(found.count, {"channel": channel})
            self._oldest.set(found.oldest_seconds, {"channel": channel})
        return backlog

    async def run(self, pool: AsyncConnectionPool, every: timedelta = PENDING_SENDS_EVERY) -> None:
        """Record every `every` until cancelled; a failed count is logged and tried again."""
        while True:
            try:
                await self.record(pool)
            except Exception as err:  # noqa: BLE001 - PostgreSQL away: the next round retries
                log.warning("could not count the pending sends: %s", err)
            await asyncio.sleep(every.total_seconds())
