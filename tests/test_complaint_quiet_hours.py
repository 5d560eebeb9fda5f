"""A complaint keeps out of the customer's quiet hours (21:00–08:00 on their clock, the
settings' default), on the time-skipping server with the real activities: what their phone
received (the SMS rows of the ledger) and when.

The customer's zone is a fixed UTC offset chosen so that the complaint is filed between
01:00 and 02:00 on their clock, whatever hour the shared test server reads: the times below
are read from the case's own filing time. (The last test moves the server's clock to 20:00 in
Warsaw instead, `to_local_hour`, and reads the customer's email.)
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from psycopg_pool import AsyncConnectionPool
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from promptly.config import Settings
from promptly.domain.complaints.models import (
    CloseComplaintInput,
    ComplaintRequest,
    ComplaintStatus,
    ComplaintView,
    CustomerVerdictInput,
    HoldInput,
    ProposeResolutionInput,
)
from promptly.services.complaints import file_complaint
from promptly.worker import create_worker, data_converter, workflow_runner
from promptly.workflows.complaint import ComplaintWorkflow
from tests.complaint_helpers import (
    AGENT,
    CUSTOMER,
    SUPERVISOR,
    advance_to,
    complaint,
    complaint_payload,
    matrix,
    to_local_hour,
    write_matrix,
)
from tests.helpers import close_to, messages, settled

H = timedelta(hours=1)
Row = tuple[str, str, datetime]


async def zone_where_it_is_1am(env: WorkflowEnvironment) -> str:
    """A zone (a fixed UTC offset, no DST) whose clock reads 01:xx at the server's now."""
    now = await env.get_current_time()
    offset = (1 - now.hour) % 24
    if offset > 12:
        offset -= 24
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"  # Etc/GMT-2 is UTC+2


def by_sms_at_night(zone: str) -> ComplaintRequest:
    customer = complaint_payload()["customer"] | {"preferred_channel": "sms", "timezone": zone}
    return complaint(customer=customer)


async def ledger(pool: AsyncConnectionPool, case_id: str) -> list[Row]:
    return [
        (r["template"], r["recipient_role"], r["requested_at"])
        for r in await messages(pool, case_id)
    ]


def assert_sent(rows: list[Row], expected: list[Row]) -> None:
    """The same messages in the same order, each asked for within seconds of its time."""
    assert [row[:2] for row in rows] == [row[:2] for row in expected]
    for (template, _, at), (_, _, due) in zip(rows, expected, strict=True):
        assert close_to(at, due), (template, at, due)


Filed = tuple[WorkflowHandle[ComplaintWorkflow, ComplaintView], ComplaintRequest, datetime]


async def filed_at_night(
    env: WorkflowEnvironment, settings: Settings
) -> tuple[Filed, ZoneInfo, date]:
    """A complaint filed between 01:00 and 02:00 on its customer's clock: its handle (as the
    start gave it: its result lets the test server skip time), request and filing time, the
    customer's zone and the local day of the filing."""
    zone = await zone_where_it_is_1am(env)
    request = by_sms_at_night(zone)
    handle = await file_complaint(env.client, request, settings)
    await env.sleep(timedelta(minutes=1))
    filed = (await handle.query(ComplaintWorkflow.status)).filed_at
    local = filed.astimezone(ZoneInfo(zone))
    assert local.hour in (1, 2), local  # deep in the customer's night
    return (handle, request, filed), ZoneInfo(zone), local.date()


def at(zone: ZoneInfo, day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), zone)


async def test_updates_come_before_the_night_and_escalation_notices_after_it(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    (handle, request, filed), zone, day = await filed_at_night(env, settings)
    view = await handle.query(ComplaintWorkflow.status)
    # Due 24h after the acknowledgement, at 01:xx: sent the evening before, at 20:45.
    assert view.next_status_update_at == at(zone, day, 20, 45)

    await advance_to(env, filed + 24 * H + 10 * timedelta(minutes=1))
    view = await handle.query(ComplaintWorkflow.status)
    assert view.escalation_level == 1  # the supervisor heard at once, at 01:xx
    waits = [e for e in view.timeline if e.data.get("send_at")]
    assert [e.detail for e in waits] == [
        "Escalation to the customer waits for the end of their quiet hours: "
        f"{at(zone, day + timedelta(days=1), 8).astimezone(filed.tzinfo).isoformat()}"
    ]

    await advance_to(env, at(zone, day + timedelta(days=2), 9))
    view = await handle.query(ComplaintWorkflow.status)
    assert view.sla_breached and view.escalation_level == 2
    await handle.execute_update(
        ComplaintWorkflow.close, CloseComplaintInput(reason="Refunded", actor=SUPERVISOR)
    )
    await handle.result()

    rows = await ledger(pool, request.workflow_id)
    assert_sent(
        rows,
        [
            ("complaint_ack", "client", filed),  # the customer just wrote: at once
            ("complaint_department", "department", filed),
            ("status_update", "client", at(zone, day, 20, 45)),
            ("complaint_alert", "supervisor", filed + 24 * H),  # staff: at once
            ("escalation", "client", at(zone, day + timedelta(days=1), 8)),
            ("complaint_alert", "manager", filed + 48 * H),
            # The breach notice at 08:00 is also the update due then: no second message.
            ("escalation", "client", at(zone, day + timedelta(days=2), 8)),
            ("complaint_closed", "client", at(zone, day + timedelta(days=2), 9)),
            ("complaint_survey", "client", at(zone, day + timedelta(days=2), 11)),
        ],
    )
    customer = [
        r for r in await messages(pool, request.workflow_id) if r["recipient_role"] == "client"
    ]
    assert {r["channel"] for r in customer} == {"sms"}
    # Nothing reached the customer's phone between 21:00 and 08:00 but the acknowledgement.
    night = [
        t
        for t, role, sent in rows[1:]
        if role == "client" and not 8 <= sent.astimezone(zone).hour < 21
    ]
    assert night == []


async def test_a_hold_that_ends_and_a_proposal_left_unanswered_at_night_are_told_at_8(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    (handle, request, filed), zone, day = await filed_at_night(env, settings)
    await advance_to(env, filed + H)
    held = await handle.execute_update(
        ComplaintWorkflow.hold, HoldInput(reason="Waiting for your receipt", actor=AGENT)
    )
    assert held.on_hold_since and held.hold_until
    # The hold runs out 72h later, in the night: the clock resumes then, the customer hears
    # at 08:00; the next update is 24h after that news.
    await advance_to(env, at(zone, day + timedelta(days=3), 9))
    view = await handle.query(ComplaintWorkflow.status)
    assert view.status is ComplaintStatus.OPEN and view.hold_until is None
    assert view.next_status_update_at
    assert close_to(view.next_status_update_at, at(zone, day + timedelta(days=4), 8))

    proposed_at = at(zone, day + timedelta(days=3), 22)
    await advance_to(env, proposed_at)
    await handle.execute_update(
        ComplaintWorkflow.propose_resolution,
        ProposeResolutionInput(resolution="A refund of the visit", actor=AGENT),
    )
    final = await handle.result()  # no verdict in 72h: closed at 22:00, unconfirmed
    assert final.status is ComplaintStatus.CLOSED_UNCONFIRMED
    assert final.closed_at and close_to(final.closed_at, proposed_at + 72 * H)

    assert_sent(
        await ledger(pool, request.workflow_id),
        [
            ("complaint_ack", "client", filed),
            ("complaint_department", "department", filed),
            ("complaint_on_hold", "client", held.on_hold_since),  # staff's hold: at once
            ("hold_ended", "client", at(zone, day + timedelta(days=3), 8)),
            ("resolution_proposed", "client", proposed_at),  # staff's proposal: at once
            # Closed at 22:00 on its own: told at 08:00, and the follow-up (due at midnight)
            # right after it.
            ("complaint_closed", "client", at(zone, day + timedelta(days=7), 8)),
            ("complaint_survey", "client", at(zone, day + timedelta(days=7), 8)),
        ],
    )


async def test_news_waiting_for_the_morning_is_dropped_when_the_case_moves_on(
    env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: AsyncConnectionPool
) -> None:
    (handle, request, filed), zone, day = await filed_at_night(env, settings)
    next_day = day + timedelta(days=1)
    # The supervisor's tier at 01:xx: its notice waits for 08:00 ...
    await advance_to(env, at(zone, next_day, 3))
    # ... but a resolution is proposed first, and the customer accepts it minutes later.
    await handle.execute_update(
        ComplaintWorkflow.propose_resolution,
        ProposeResolutionInput(resolution="A refund of the visit", actor=AGENT),
    )
    # (Not at once: the test server would not skip time for the close to cancel the
    # proposal's send still under way, STYLE.md §12.)
    await advance_to(env, at(zone, next_day, 3, 5))
    await settled(env.client, handle.id)  # on a busy machine the send may still be going
    await handle.execute_update(
        ComplaintWorkflow.customer_verdict, CustomerVerdictInput(satisfied=True, actor=CUSTOMER)
    )
    final = await handle.result()
    assert final.status is ComplaintStatus.CLOSED
    dropped = [e for e in final.timeline if e.data.get("outcome") == "cancelled"]
    assert [e.detail for e in dropped] == [
        "Escalation to the customer, waiting for the end of their quiet hours, not sent: "
        "the case changed"
    ]

    assert_sent(
        await ledger(pool, request.workflow_id),
        [
            ("complaint_ack", "client", filed),
            ("complaint_department", "department", filed),
            ("status_update", "client", at(zone, day, 20, 45)),
            ("complaint_alert", "supervisor", filed + 24 * H),
            ("resolution_proposed", "client", at(zone, next_day, 3)),
            ("complaint_closed", "client", at(zone, next_day, 3, 5)),
            ("complaint_survey", "client", at(zone, next_day, 8)),  # 05:00 is night
        ],
    )


async def test_two_escalations_in_one_night_reach_the_customer_as_one_notice_at_8(
    env: WorkflowEnvironment, settings: Settings, pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    critical = {"supervisor_after": "PT4H", "breach_after": "PT8H", "extension": "PT8H"}
    settings.escalation_matrix = str(write_matrix(tmp_path, matrix(tiers={"critical": critical})))
    zone = ZoneInfo("Europe/Warsaw")
    # Filed at 20:00 on the customer's clock: the supervisor's tier at 00:00, the breach at
    # 04:00, both in their quiet hours; the next tier at 12:00.
    await to_local_hour(env, 20)
    customer = complaint_payload()["customer"] | {"locale": "en"}
    request = complaint(severity="critical", customer=customer)
    async with create_worker(env.client, settings, pool=pool):
        handle = await file_complaint(env.client, request, settings)
        await env.sleep(timedelta(minutes=1))
        filed = (await handle.query(ComplaintWorkflow.status)).filed_at
        morning = datetime.combine(filed.astimezone(zone).date() + timedelta(days=1), time(8), zone)

        await advance_to(env, morning + timedelta(minutes=30))
        view = await handle.query(ComplaintWorkflow.status)
        assert view.escalation_level == 2 and view.sla_breached
        await handle.execute_update(
            ComplaintWorkflow.close, CloseComplaintInput(reason="Refunded", actor=SUPERVISOR)
        )
        final = await handle.result()

    rows = await messages(pool, request.workflow_id)
    assert_sent(
        [(r["template"], r["recipient_role"], r["requested_at"]) for r in rows][:6],
        [
            ("complaint_ack", "client", filed),
            ("complaint_department", "department", filed),
            ("complaint_alert", "supervisor", filed + 4 * H),  # staff: one alert per tier
            ("complaint_alert", "manager", filed + 8 * H),
            # One notice at 08:00, with the case as it stands: breached, a manager on it.
            ("escalation", "client", morning),
            ("complaint_closed", "client", morning + timedelta(minutes=30)),
        ],
    )
    [notice] = [r["body"] for r in rows if r["template"] == "escalation"]
    assert "within the time we promised" in notice
    assert "supervisor" not in notice
    replaced = [e.detail for e in final.timeline if e.data.get("outcome") == "cancelled"]
    assert replaced == [
        "Escalation to the customer, waiting for the end of their quiet hours, not sent: "
        "a newer one replaces it"
    ]

    history = await handle.fetch_history()
    replay = await Replayer(
        workflows=[ComplaintWorkflow],
        data_converter=data_converter(),
        workflow_runner=workflow_runner(),
    ).replay_workflow(history, raise_on_replay_failure=False)
    assert replay.replay_failure is None, replay.replay_failure
