"""Who opened a case, as its first timeline entry says: the actor the start's memo names
(services/cases.py `start_case`), the system for a case a workflow opened itself (a survey,
a detractor's complaint) or one started before the memo was written."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from promptly.domain.common import OPENED_BY_MEMO, SYSTEM, Actor


def opened_by() -> Actor:
    actor: Actor = workflow.memo_value(OPENED_BY_MEMO, SYSTEM, type_hint=Actor)
    return actor
