"""What the chaos benchmark counts, from what the run left behind (pure: unit-tested).

Inputs are plain records read after the run: the message ledger, the timelines' message
outcomes, the staff tasks, every request the SendGrid fake answered, the changes the driver
made (cancel, reschedule: when sent, when answered), the worker kills and the fault windows.
SMS are counted by the same `compute`, once `sms_deliveries` has found the ledger row of each
SMS the Twilio fake accepted (Twilio keeps no idempotency key: see there).

- expected: messages the cases decided to send by email — every ledger row, plus every
  failed send a timeline records that never got a ledger row (its activity never ran) —
  minus the moot ones: a message made for a state a later change replaced (created before the
  change was sent and not delivered before it was answered), or one the engine cancelled
  because the case changed (ledger `abandoned`, reason CANCELLED_BY_THE_CASE) and that never
  went out — e.g. a send whose activity first ran, and wrote its ledger row, after the change
  was sent but before the workflow applied it (a worker kill in between).
- delivered: expected messages the fake accepted (202) at least once.
- handed_to_staff: expected, not delivered, and a staff task of the case names it (its key,
  its template, or "send the confirmation by hand" for a confirmation).
- lost: expected − delivered − handed_to_staff.
- duplicated: accepted deliveries beyond the first of the same message (same idempotency key,
  the key SendGrid's custom_args and the Message-ID carry; for SMS, the same ledger row: same
  number and same text): raw copies a person could see.
- sent_after_change: messages for a replaced state that the fake accepted after the change
  that made them moot was answered.
- max_send_recovery_s: for each delivered message whose send was under way at a worker kill,
  the time from the first such kill to its delivery; the largest. Sends whose span overlaps a
  PostgreSQL or SendGrid fault are left out (those faults delay by design).

From the workflow histories (`recovery_after_kills`, `lateness_summary`):

- timer lateness: for each timer that fired (a step falling due), the time from the server
  firing it to the first workflow task of that workflow completed after it: how late the
  workflow acted on it. Without faults a few milliseconds to a second.
- max_recovery_s: for each worker kill, the latest any timer that fell due between that kill
  and the next one was acted on; the largest over kills. Kills during a PostgreSQL outage
  (no worker can start then: it migrates first), the minute after it and the 15 s before it
  (the restart is still under way when the database stops) are left out; None when no
  timer fell due after any kill.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

MOOT_STATUSES = frozenset({"cancelled", "canceled", "superseded", "moot"})
# How the ledger says the engine cancelled a send because the case changed: `abandoned`, with
# the reason the workflow gives (promptly/workflows/messages.py, `_failed`), "<template> to
# <recipient> via <channel> cancelled: the case changed".
CANCELLED_BY_THE_CASE = "cancelled: the case changed"
CONFIRMATIONS = frozenset({"confirmation", "phone_confirmation"})


@dataclass(frozen=True)
class LedgerRow:
    key: str
    case_id: str
    template: str
    status: str
    created_at: float  # epoch seconds
    last_error: str | None = None  # for `abandoned`: why the message will never go out


def cancelled_by_the_case(row: LedgerRow) -> bool:
    """The engine cancelled this send because the case changed (cancel, reschedule, an
    answer that made an alert moot): moot whenever the change came."""
    return row.status == "abandoned" and (row.last_error or "").endswith(CANCELLED_BY_THE_CASE)


@dataclass(frozen=True)
class FailedSend:
    """A timeline's `message_failed` entry (email)."""

    case_id: str
    template: str


@dataclass(frozen=True)
class StaffTaskRow:
    case_id: str
    kind: str
    data: str  # the task's data, as JSON text


@dataclass(frozen=True)
class Delivery:
    """One request the fake answered."""

    key: str
    status: int
    at: float


@dataclass(frozen=True)
class Change:
    """A cancel or reschedule the driver made: sent at `requested`, answered at `answered`."""

    case_id: str
    requested: float
    answered: float


@dataclass
class Outcome:
    expected: int = 0
    delivered: int = 0
    handed_to_staff: int = 0
    lost: int = 0
    duplicated: int = 0
    sent_after_change: int = 0
    moot: int = 0
    max_send_recovery_s: float | None = None
    lost_by_template: dict[str, int] = field(default_factory=dict)
    # What was lost, for the reader to look up: a ledger key, or `case/template` for a failed
    # send without a ledger row.
    lost_keys: list[str] = field(default_factory=list)
    duplicated_by_template: dict[str, int] = field(default_factory=dict)
    # The keys of messages accepted more than once, and how many times.
    duplicated_keys: dict[str, int] = field(default_factory=dict)


def _template_of(key: str) -> str:
    """`appointment-X/reminder/r0` → reminder; `…/alert/unconfirmed/0` (awaited in line) and
    `…/alert:unconfirmed/r0` (beside the plan) → supervisor_alert."""
    parts = key.split("/")
    if len(parts) < 2:
        return "?"
    step = parts[1]
    return "supervisor_alert" if step == "alert" or step.startswith("alert:") else step


def _overlaps(start: float, end: float, windows: Sequence[tuple[float, float]]) -> bool:
    return any(start < w_end and w_start < end for w_start, w_end in windows)


def compute(
    ledger: Iterable[LedgerRow],
    failed_sends: Iterable[FailedSend],
    tasks: Iterable[StaffTaskRow],
    deliveries: Iterable[Delivery],
    changes: Iterable[Change],
    kills: Sequence[float],
    fault_windows: Sequence[tuple[float, float]],
) -> Outcome:
    rows = list(ledger)
    accepted: dict[str, list[float]] = defaultdict(list)
    for delivery in deliveries:
        if 200 <= delivery.status < 300:
            accepted[delivery.key].append(delivery.at)
    for times in accepted.values():
        times.sort()
    changes_by_case: dict[str, list[Change]] = defaultdict(list)
    for change in changes:
        changes_by_case[change.case_id].append(change)
    tasks_by_case: dict[str, list[StaffTaskRow]] = defaultdict(list)
    for task in tasks:
        tasks_by_case[task.case_id].append(task)

    out = Outcome()
    lost_by: dict[str, int] = defaultdict(int)
    recoveries: list[float] = []

    def handed(case_id: str, key: str | None, template: str) -> bool:
        for task in tasks_by_case.get(case_id, []):
            if key is not None and key in task.data:
                return True
            if f'"template": "{template}"' in task.data:
                return True
            if template in CONFIRMATIONS and task.kind == "send_confirmation_manually":
                return True
        return False

    keyed_templates: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        keyed_templates[(row.case_id, row.template)] += 1
        first = accepted[row.key][0] if accepted.get(row.key) else None
        replaced_by = [
            c
            for c in changes_by_case.get(row.case_id, [])
            if row.created_at < c.requested and (first is None or first > c.answered)
        ]
        if row.status in MOOT_STATUSES or (
            first is None and (replaced_by or cancelled_by_the_case(row))
        ):
            out.moot += 1
            continue
        if replaced_by:  # delivered, but only after a change had made it moot
            out.sent_after_change += 1
            out.moot += 1
            continue
        out.expected += 1
        if first is not None:
            out.delivered += 1
            after = [k for k in kills if row.created_at < k < first]
            if after and not _overlaps(row.created_at, first, fault_windows):
                recoveries.append(first - after[0])
        elif handed(row.case_id, row.key, row.template):
            out.handed_to_staff += 1
        else:
            out.lost += 1
            lost_by[row.template] += 1
            out.lost_keys.append(row.key)

    # Failed sends a timeline records without a ledger row: the activity never ran.
    unkeyed: dict[tuple[str, str], int] = defaultdict(int)
    for failed in failed_sends:
        unkeyed[(failed.case_id, failed.template)] += 1
    for (case_id, template), count in unkeyed.items():
        missing = count - keyed_templates.get((case_id, template), 0)
        for _ in range(max(missing, 0)):
            out.expected += 1
            if handed(case_id, None, template):
                out.handed_to_staff += 1
            else:
                out.lost += 1
                lost_by[template] += 1
                out.lost_keys.append(f"{case_id}/{template}")

    dup_by: dict[str, int] = defaultdict(int)
    for key, times in accepted.items():
        if len(times) > 1:
            out.duplicated += len(times) - 1
            dup_by[_template_of(key)] += len(times) - 1
            out.duplicated_keys[key] = len(times)
    out.max_send_recovery_s = round(max(recoveries), 1) if recoveries else None
    out.lost_by_template = dict(sorted(lost_by.items()))
    out.duplicated_by_template = dict(sorted(dup_by.items()))
    return out


@dataclass(frozen=True)
class SmsLedgerRow:
    """What the ledger knows of one SMS: its key, the number, the text (links redacted, as
    the ledger keeps it) and Twilio's message SID once an attempt recorded it."""

    key: str
    to: str
    body: str
    provider_id: str | None


@dataclass(frozen=True)
class SmsAccepted:
    """One SMS the Twilio fake accepted (201): its SID, number, text (live links) and when."""

    sid: str
    to: str
    body: str
    at: float


# A link as the ledger keeps it (promptly/domain/links.py, `redact`), and as the SMS carried
# it: a URL, without the punctuation that may follow it in the sentence.
_REDACTED_LINK = re.compile(r"\[[a-z_]+ link, token [A-Za-z0-9_-]+\]")
_LIVE_LINK = re.compile(r"https?://\S+?(?=[.,;:!?)]*(?:\s|$))")


def _without_links(text: str) -> str:
    return _LIVE_LINK.sub("<link>", _REDACTED_LINK.sub("<link>", text))


def sms_deliveries(
    ledger: Iterable[SmsLedgerRow], accepted: Iterable[SmsAccepted]
) -> tuple[list[Delivery], list[SmsAccepted]]:
    """Each SMS the fake accepted as a delivery of its ledger row (for `compute`), and those
    no ledger row accounts for.

    An SMS is the row's whose provider_id is its SID. Twilio keeps no idempotency key, so a
    copy the ledger never recorded (the worker died after Twilio took it, and a retry texted
    again) is told by its number and text, which a retry renders the same: it belongs to the
    row whose recorded SMS has the same number and text (of several such rows, the one
    recorded next after it, else the last). An SMS whose number and text no recorded SMS
    shares (its row never recorded an outcome: e.g. a send the engine abandoned after Twilio
    took it) is matched by number and text with the links left out (the ledger redacts them):
    to a row without a SID first; left over when no row has that number and text."""
    rows = sorted(ledger, key=lambda r: r.key)
    by_sid = {r.provider_id: r.key for r in rows if r.provider_id}
    same_text: dict[tuple[str, str], list[SmsAccepted]] = defaultdict(list)
    for sms in sorted(accepted, key=lambda s: s.at):
        same_text[(sms.to, sms.body)].append(sms)
    found: list[Delivery] = []
    unmatched: list[SmsAccepted] = []
    for (to, body), copies in same_text.items():
        recorded = [(sms.at, by_sid[sms.sid]) for sms in copies if sms.sid in by_sid]
        if not recorded:
            text = _without_links(body)
            candidates = [r for r in rows if r.to == to and _without_links(r.body) == text]
            candidates.sort(key=lambda r: r.provider_id is not None)  # unrecorded rows first
            if candidates:
                recorded = [(float("inf"), candidates[0].key)]
        for sms in copies:
            key = by_sid.get(sms.sid)
            if key is None and recorded:
                later = [k for at, k in recorded if at >= sms.at]
                key = later[0] if later else recorded[-1][1]
            if key is None:
                unmatched.append(sms)
            else:
                found.append(Delivery(key, 201, sms.at))
    return found, unmatched


@dataclass(frozen=True)
class TimerLateness:
    """One timer of a workflow history: when the server fired it, when the workflow acted."""

    fired: float  # epoch seconds
    acted: float  # the first workflow task of that workflow completed after `fired`

    @property
    def late_s(self) -> float:
        return self.acted - self.fired


# After a PostgreSQL outage ends, a worker start still waits out its connection retries.
AFTER_OUTAGE_S = 60.0
# A worker killed this shortly before PostgreSQL stops is still starting (imports, then the
# migrations, which need the database) when it stops: its restart waits for the outage too.
# The recovery goal (15 s): a start that takes longer is what the benchmark should show.
BEFORE_OUTAGE_S = 15.0


def recovery_after_kills(
    timers: Iterable[TimerLateness],
    kills: Sequence[float],
    outages: Sequence[tuple[float, float]],
) -> float | None:
    """The largest, over kills, of the latest a timer falling due after that kill (and before
    the next) was acted on. Kills within an outage, BEFORE_OUTAGE_S before it or
    AFTER_OUTAGE_S after it are left out: no worker can start while the database is down."""
    ordered = sorted(kills)
    fired = sorted(timers, key=lambda t: t.fired)
    worst: float | None = None
    for index, kill in enumerate(ordered):
        if any(start - BEFORE_OUTAGE_S <= kill <= end + AFTER_OUTAGE_S for start, end in outages):
            continue
        until = ordered[index + 1] if index + 1 < len(ordered) else float("inf")
        late = [t.late_s for t in fired if kill <= t.fired < until]
        if late:
            worst = max(late) if worst is None else max(worst, max(late))
    return round(worst, 1) if worst is not None else None


def lateness_summary(timers: Sequence[TimerLateness]) -> dict[str, float | int | None]:
    """How late every timer of the run was acted on: count, p50, p99, max (seconds)."""
    late = sorted(t.late_s for t in timers)
    if not late:
        return {"timers": 0, "timer_late_p50_s": None, "timer_late_p99_s": None}

    def cut(share: float) -> float:
        return round(late[min(int(share * len(late)), len(late) - 1)], 2)

    return {
        "timers": len(late),
        "timer_late_p50_s": cut(0.5),
        "timer_late_p99_s": cut(0.99),
        "timer_late_max_s": round(late[-1], 2),
    }
