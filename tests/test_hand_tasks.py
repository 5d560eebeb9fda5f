"""Which flag a message passed on by hand clears (`HandTasks`, promptly/workflows/case.py)."""

from __future__ import annotations

from promptly.domain.tasks import TaskKind
from promptly.workflows.hand_tasks import HandTasks

DELIVER = TaskKind.DELIVER_MESSAGE_MANUALLY
RESEND = TaskKind.RESEND_STAFF_MESSAGE


def test_a_flag_two_failed_messages_share_goes_with_the_last_task_done() -> None:
    tasks = HandTasks()
    tasks.opened(1, DELIVER, "status update not delivered")
    tasks.opened(2, DELIVER, "status update not delivered")
    tasks.opened(3, RESEND, "complaint alert to supervisor not delivered")
    assert tasks.passed_on(1) is None  # task 2 still asks for the same
    assert tasks.passed_on(2) == "status update not delivered"
    assert tasks.passed_on(3) == "complaint alert to supervisor not delivered"
    assert tasks.done == {1, 2, 3} and tasks.open == {}


def test_a_task_the_case_closed_as_moot_holds_no_flag_and_an_unknown_task_clears_none() -> None:
    tasks = HandTasks()
    tasks.opened(1, TaskKind.SEND_CONFIRMATION_MANUALLY, "confirmation not sent")
    tasks.opened(2, DELIVER, "reminder not sent")
    tasks.closed([DELIVER])  # rescheduled: the old reminder's task is moot
    tasks.opened(3, DELIVER, "reminder not sent")  # the new time's reminder failed too
    assert tasks.passed_on(3) == "reminder not sent"
    tasks.closed()  # the case ended: every task is moot
    assert tasks.open == {}
    assert tasks.passed_on(1) is None and tasks.passed_on(99) is None


def test_closing_moot_tasks_names_the_flags_no_open_task_answers_any_more() -> None:
    tasks = HandTasks()
    tasks.opened(1, TaskKind.SEND_CONFIRMATION_MANUALLY, "confirmation not sent")
    tasks.opened(2, DELIVER, "status update not delivered")
    tasks.opened(3, RESEND, "status update not delivered")
    tasks.opened(4, DELIVER, "reminder not sent")
    assert tasks.closed([TaskKind.SEND_CONFIRMATION_MANUALLY]) == {"confirmation not sent"}
    assert tasks.closed([DELIVER]) == {"reminder not sent"}  # task 3 still asks for updates
    assert tasks.closed() == {"status update not delivered"}
    assert tasks.closed() == set()
