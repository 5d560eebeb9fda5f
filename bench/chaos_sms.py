"""The SMS side of bench/chaos.py: which clients prefer SMS, what the run reads back of their
messages, and the `sms_*` fields of its line.

Their SMS go through the real `twilio` client to `TimedTwilio` (bench/chaos_stack.py, the
Twilio fake of `make run`); `chaos_metrics.sms_deliveries` finds each accepted SMS's ledger
row, and `chaos_metrics.compute` counts them as it counts email.
"""

from __future__ import annotations

import dataclasses
import random
import sys
from dataclasses import dataclass
from typing import Any

import psycopg

from bench.chaos_metrics import (
    Change,
    FailedSend,
    LedgerRow,
    Outcome,
    SmsAccepted,
    SmsLedgerRow,
    StaffTaskRow,
    compute,
    sms_deliveries,
)

SMS_SHARE = 0.3  # of the clients, by default


def sms_clients(n: int, share: float, seed: int) -> frozenset[int]:
    """The lifecycles (by index) whose client prefers SMS: round(n × share) of them, drawn by
    a generator of the run's seed, so the control and the fault run book the same ones."""
    chosen = random.Random(f"chaos-sms-{seed}").sample(range(n), round(n * share))
    return frozenset(chosen)


def contact(index: int) -> dict[str, str]:
    """An SMS client's channel and number (one number per client: SMS are told apart by
    number and text). The email stays: a message the number cannot take goes there."""
    return {"preferred_channel": "sms", "phone": f"+48600{index:06d}"}


@dataclass(frozen=True)
class SmsRecord:
    ledger: list[LedgerRow]
    texts: list[SmsLedgerRow]
    failed: list[FailedSend]

    def inputs(self, accepted: list[SmsAccepted]) -> dict[str, list[dict[str, Any]]]:
        """What the SMS counting read, for the run's `inputs-*.json`."""
        return {
            name: [dataclasses.asdict(item) for item in items]
            for name, items in (
                ("sms_ledger", self.ledger),
                ("sms_texts", self.texts),
                ("sms_failed_sends", self.failed),
                ("sms_accepted", accepted),
            )
        }


def collect(url: str) -> SmsRecord:
    """The SMS ledger rows (for `compute`, and what identifies each SMS) and the failed SMS
    sends the timelines record."""
    with psycopg.connect(url) as conn:
        found = list(
            conn.execute(
                """SELECT idempotency_key, case_id, template, status, created_at, last_error,
                          recipient, body, provider_id
                     FROM messages WHERE channel = 'sms'"""
            )
        )
        failed = [
            FailedSend(case_id, template)
            for case_id, template in conn.execute(
                """SELECT case_id, data->>'template' FROM timeline_events
                    WHERE kind = 'message_failed' AND data->>'channel' = 'sms'"""
            )
        ]
    return SmsRecord(
        ledger=[
            LedgerRow(key, case_id, template, status, created.timestamp(), last_error)
            for key, case_id, template, status, created, last_error, *_ in found
        ],
        texts=[SmsLedgerRow(row[0], row[6], row[7], row[8]) for row in found],
        failed=failed,
    )


@dataclass(frozen=True)
class SmsCount:
    metrics: Outcome
    unmatched: list[SmsAccepted]
    accepted: int


def count(
    record: SmsRecord,
    accepted: list[SmsAccepted],
    tasks: list[StaffTaskRow],
    changes: list[Change],
    kills: list[float],
    windows: list[tuple[float, float]],
) -> SmsCount:
    deliveries, unmatched = sms_deliveries(record.texts, accepted)
    metrics = compute(record.ledger, record.failed, tasks, deliveries, changes, kills, windows)
    return SmsCount(metrics, unmatched, len(accepted))


def fields(clients: int, counted: SmsCount) -> dict[str, Any]:
    """The `sms_*` fields of the run's line (docs/chaos.md)."""
    m = counted.metrics
    return {
        "sms_clients": clients,
        "sms_expected": m.expected,
        "sms_delivered": m.delivered,
        "sms_handed_to_staff": m.handed_to_staff,
        "sms_lost": m.lost,
        "sms_duplicated": m.duplicated,
        "sms_sent_after_change": m.sent_after_change,
        "sms_moot": m.moot,
        "sms_lost_by_template": m.lost_by_template,
        "sms_duplicated_by_template": m.duplicated_by_template,
        "sms_accepted_at_fake": counted.accepted,
        "sms_unmatched": len(counted.unmatched),
    }


def report(counted: SmsCount, label: str) -> None:
    """For the reader, on stderr: each SMS sent more than once, and any the ledger cannot
    account for."""
    for key, times in sorted(counted.metrics.duplicated_keys.items()):
        print(f"chaos {label}: SMS {key} accepted {times} times", file=sys.stderr)
    for sms in counted.unmatched:
        print(
            f"chaos {label}: SMS {sms.sid} to {sms.to} matches no ledger row: {sms.body!r}",
            file=sys.stderr,
        )
