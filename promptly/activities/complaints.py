"""Hands a new complaint its route and rules from the worker's escalation matrix.

Run once at filing as a local activity, so the department, contacts and tiers a case runs
under are fixed in its history: editing the matrix affects new complaints only.
"""

from __future__ import annotations

from temporalio import activity

from promptly.domain.complaints import sla as complaint_sla
from promptly.domain.complaints.models import (
    ComplaintPolicy,
    ComplaintRequest,
    ComplaintRules,
    EscalationMatrix,
)


class ComplaintRulesActivities:
    def __init__(
        self,
        matrix: EscalationMatrix,
        complaint_policy: ComplaintPolicy,
        time_scale: float = 1,
        office_timezone: str | None = None,
    ) -> None:
        self._matrix = matrix
        self._policy = complaint_policy
        self._time_scale = time_scale
        self._office_timezone = office_timezone

    @activity.defn
    async def complaint_rules(self, request: ComplaintRequest) -> ComplaintRules:
        route = complaint_sla.route_complaint(
            self._matrix, request.category, request.severity, self._office_timezone
        )
        rules = ComplaintRules(route=route, policy=self._policy)
        return complaint_sla.scaled_complaint_rules(rules, self._time_scale)
