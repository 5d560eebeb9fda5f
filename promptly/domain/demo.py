"""Demo cases: how they are told apart from real ones.

`make demo` books its cases under business ids starting with `DEMO-` (and a `demo` memo),
so the staff inbox, the QA report and `promptly demo --clean` can leave them out or find
them by id alone, in Temporal and in PostgreSQL.
"""

from __future__ import annotations

from promptly.domain.common import Actor, ActorKind

DEMO_ID_PREFIX = "DEMO-"
DEMO_MEMO = {"promptly_demo": True}
# Who the demo's cases say opened them.
DEMO_ACTOR = Actor(kind=ActorKind.SYSTEM, id="demo")
# SQL LIKE pattern of a demo case's workflow id (`appointment-DEMO-…`, `survey-appointment-DEMO-…`).
DEMO_CASE_ID_LIKE = "%-DEMO-%"


def is_demo_case(case_or_workflow_id: str) -> bool:
    """True for a demo business id (`DEMO-…`) or any workflow id made from one."""
    return case_or_workflow_id.startswith(DEMO_ID_PREFIX) or f"-{DEMO_ID_PREFIX}" in (
        case_or_workflow_id
    )
