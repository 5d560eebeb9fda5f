"""The complaint's SLA clock (business or calendar time, holds, the 48h ceiling), routing
and the escalation tiers, as pure functions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from promptly.domain.calendar import (
    BusinessCalendar,
    _utc,
    add_business_time,
    business_time_between,
)
from promptly.domain.complaints.models import (
    ANY_ROUTE,
    ComplaintCase,
    ComplaintRequest,
    ComplaintRoute,
    ComplaintRules,
    ComplaintStatus,
    Contact,
    EscalationMatrix,
    EscalationTiers,
    Severity,
    SlaClock,
)
from promptly.domain.complaints.quiet_hours import update_time


def fresh_clock(now: datetime) -> SlaClock:
    return SlaClock(started_at=now, running_since=now)


def clock_elapsed(clock: SlaClock, now: datetime, office: BusinessCalendar | None) -> timedelta:
    if clock.running_since is None:
        return clock.active_before
    return clock.active_before + business_time_between(clock.running_since, now, office)


def calendar_elapsed(clock: SlaClock, now: datetime) -> timedelta:
    """Every hour the clock ran, office hours or not (what the procedure's ceiling counts)."""
    if clock.running_since is None:
        return clock.calendar_before
    return clock.calendar_before + max(_utc(now) - _utc(clock.running_since), timedelta(0))


def clock_reaches(
    clock: SlaClock,
    target: timedelta,
    office: BusinessCalendar | None,
    ceiling: timedelta | None = None,
) -> datetime | None:
    """When the clock will show `target`, or None while it is stopped.

    With a `ceiling`, never later than the moment the clock has run that many calendar
    hours: office hours may make a department's clock stricter, never looser.
    """
    if clock.running_since is None:
        return None
    reached = add_business_time(clock.running_since, target - clock.active_before, office)
    if ceiling is None:
        return reached
    return min(reached, _utc(clock.running_since) + (ceiling - clock.calendar_before))


def stop_clock(clock: SlaClock, now: datetime, office: BusinessCalendar | None) -> SlaClock:
    if clock.running_since is None:
        return clock
    return clock.model_copy(
        update={
            "active_before": clock_elapsed(clock, now, office),
            "calendar_before": calendar_elapsed(clock, now),
            "running_since": None,
        }
    )


def start_clock(clock: SlaClock, now: datetime) -> SlaClock:
    if clock.running_since is not None:
        return clock
    return clock.model_copy(update={"running_since": now})


def route_complaint(
    matrix: EscalationMatrix, category: str, severity: Severity, office_timezone: str | None = None
) -> ComplaintRoute:
    """The most specific matching route (an exact category beats an exact severity), read in
    `office_timezone` by staff unless its department keeps office hours of its own.

    Tiers: the route's own, else the matrix's for the severity, else its `default`, else
    24h supervisor / 48h breach / 24h new timeline.
    """
    category = category.strip().lower()
    matches = [
        route
        for route in matrix.routes
        if route.category in (category, ANY_ROUTE) and route.severity in (severity, ANY_ROUTE)
    ]
    if not matches:
        raise ValueError(f"the escalation matrix has no route for {category}/{severity.value}")
    best = max(
        matches, key=lambda route: (route.category != ANY_ROUTE, route.severity != ANY_ROUTE)
    )
    department = matrix.departments[best.department]
    tiers = (
        best.tiers
        or matrix.tiers.get(severity.value)
        or matrix.tiers.get("default")
        or EscalationTiers()
    )
    return ComplaintRoute(
        department=best.department,
        department_name=department.name,
        department_names=department.names,
        category_names=matrix.categories.get(category, {}),
        owner=best.owner or department.owner,
        manager=department.manager,
        tiers=tiers,
        business_hours=department.business_hours,
        rule=f"{best.category}/{best.severity}",
        office_timezone=office_timezone,
    )


def scaled_complaint_rules(rules: ComplaintRules, factor: float) -> ComplaintRules:
    """The route's and the policy's rules at `factor` speed (calendar.time_scaled)."""
    return rules.scaled(factor)


def new_complaint_case(
    request: ComplaintRequest,
    filed_at: datetime,
    rules: ComplaintRules,
    *,
    procedure_rules: bool = True,
) -> ComplaintCase:
    """A fresh complaint: Open, the SLA clock running, the first update due a period later.

    `procedure_rules` False keeps the rules older histories ran under (no calendar ceiling,
    unbounded holds), so they replay unchanged.
    """
    case = ComplaintCase(
        request=request,
        route=rules.route,
        policy=rules.policy,
        filed_at=filed_at,
        clock=fresh_clock(filed_at),
        procedure_rules=procedure_rules,
    )
    due = update_time(case, _utc(filed_at) + rules.policy.update_every, filed_at)
    return case.model_copy(update={"update_due_at": due})


class Escalation(NamedTuple):
    target: timedelta  # on the round's SLA clock
    level: int  # the escalation level reached then
    breach: bool  # the SLA (or the promised new timeline) is missed


def next_escalation(case: ComplaintCase) -> Escalation:
    """Level 0 → supervisor at `supervisor_after`; then a breach at `breach_after` and one
    more at every `extension` after it (each a new timeline promised to the customer)."""
    tiers = case.route.tiers
    if case.escalation_level == 0:
        return Escalation(tiers.supervisor_after, 1, False)
    return Escalation(sla_target(case), max(case.escalation_level + 1, 2), True)


def sla_target(case: ComplaintCase) -> timedelta:
    """The resolution deadline on the round's clock: 48h, then each new timeline."""
    tiers = case.route.tiers
    return tiers.breach_after + case.breaches_in_round * tiers.extension


def sla_ceiling(case: ComplaintCase) -> timedelta | None:
    """The procedure's calendar limit for the resolution: 48h, then 24h per new timeline."""
    if not case.procedure_rules:
        return None
    ceiling = case.policy.sla_ceiling
    return ceiling.breach_after + case.breaches_in_round * ceiling.extension


def next_escalation_ceiling(case: ComplaintCase) -> timedelta | None:
    """The calendar limit of the next escalation: 24h for the supervisor, else the SLA's."""
    if not case.procedure_rules:
        return None
    if case.escalation_level == 0:
        return supervisor_ceiling(case)
    return sla_ceiling(case)


def sla_deadline(case: ComplaintCase) -> datetime | None:
    """When the resolution is due; None while the clock is stopped (hold, verdict, closed)."""
    return clock_reaches(case.clock, sla_target(case), case.route.business_hours, sla_ceiling(case))


def stated_wait(
    case: ComplaintCase, target: timedelta, ceiling: timedelta | None
) -> tuple[timedelta, bool]:
    """The wait a message may promise for `target` on the case's clock, and whether it counts
    office hours: the route's office hours when they bind, else the calendar ceiling's hours
    (office hours make a clock stricter, never looser: 48 office hours never apply)."""
    office = case.route.business_hours
    if office is None:
        return target, False
    capped = clock_reaches(case.clock, target, office, ceiling)
    if ceiling is None or capped is None or capped == clock_reaches(case.clock, target, office):
        return target, True
    return ceiling, False


def supervisor_ceiling(case: ComplaintCase) -> timedelta | None:
    """The procedure's calendar limit for the supervisor's escalation (24h)."""
    return case.policy.sla_ceiling.supervisor_after if case.procedure_rules else None


def supervisor_at(case: ComplaintCase) -> datetime | None:
    return clock_reaches(
        case.clock,
        case.route.tiers.supervisor_after,
        case.route.business_hours,
        supervisor_ceiling(case),
    )


def next_escalation_at(case: ComplaintCase) -> datetime | None:
    if case.status is not ComplaintStatus.OPEN:
        return None
    return clock_reaches(
        case.clock,
        next_escalation(case).target,
        case.route.business_hours,
        next_escalation_ceiling(case),
    )


def escalate(case: ComplaintCase) -> ComplaintCase:
    step = next_escalation(case)
    changes: dict[str, object] = {"escalation_level": step.level}
    if step.breach:
        changes |= {"sla_breached": True, "breaches_in_round": case.breaches_in_round + 1}
    return case.model_copy(update=changes)


def point_of_contact(case: ComplaintCase) -> Contact:
    """Whom the customer deals with: the manager once breached or reopened past level 1,
    else the assignee (when reachable by email), else the department's owner."""
    if case.escalation_level >= 2:
        return case.route.manager
    if case.assignee is not None and case.assignee.email is not None:
        return Contact(name=case.assignee.name, email=case.assignee.email)
    return case.route.owner
