"""What a workflow stores so the API can answer a case's GET from PostgreSQL.

The `status` query waits for a worker, and under load for every workflow task queued ahead of
it; a read from PostgreSQL does not (docs/status-reads.md). So each save of a case carries its
`status` view (the timeline rows are stored beside it), and each update stores the case before
it answers, so a GET after an update never shows an older state than the update returned.
"""

from __future__ import annotations

from typing import Any, TypeVar

from temporalio import workflow

from promptly.workflows.patches import RECORD_BEFORE_ANSWER, since

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from promptly.domain.common import CaseReadView

ViewT = TypeVar("ViewT", bound=BaseModel)


def status_view(view: type[ViewT], case: BaseModel, **derived: Any) -> ViewT:
    """`view` filled with `case`'s fields of the same name, and with `derived` for the rest.

    A view shows the case's own state under the case's own names, so only what it computes,
    renames or takes from the request is written out at the call; `derived` wins where both
    have a name."""
    carried = {
        name: getattr(case, name)
        for name in view.model_fields
        if name in type(case).model_fields and name not in derived
    }
    return view(**carried, **derived)


def read_view(view: BaseModel, changes: int, timeline_from: int = 0) -> CaseReadView:
    """The view as stored: without its timeline, stamped with workflow time and `changes`
    (a count that grows with every change of the case in this run)."""
    return CaseReadView(
        view=view.model_dump(mode="json", exclude={"timeline"}),
        as_of=workflow.now(),
        changes=changes,
        timeline_from=timeline_from,
    )


def record_before_answer() -> bool:
    """True when this run stores the case before an update answers (cases started before the
    patch answer at once and store the change with the run loop's next save, as before)."""
    return since(RECORD_BEFORE_ANSWER)
