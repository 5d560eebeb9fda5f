"""The front-desk tasks a case opened to pass on by hand a message that could not go out."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from promptly.domain.tasks import HandTaskRecord, HandTasksRecord, TaskKind


@dataclass
class HandTasks:
    """A case's open front-desk tasks that pass on by hand a message that could not go out:
    each task's kind and the flag it answers (several failed updates can share one flag)."""

    open: dict[int, tuple[TaskKind, str]] = field(default_factory=dict)
    done: set[int] = field(default_factory=set)
    # Each task's idempotency key, where the case closes that one task itself.
    keys: dict[int, str] = field(default_factory=dict)

    @classmethod
    def restored(cls, record: HandTasksRecord) -> HandTasks:
        """The tasks a case carried into this run (`record`)."""
        tasks = cls(done=set(record.done))
        for task in record.open:
            tasks.opened(task.task_id, task.kind, task.concern, task.key)
        return tasks

    def record(self) -> HandTasksRecord:
        """What the case carries into its next run: the open tasks (with their keys) and
        those done, so a repeated report is still noted once."""
        return HandTasksRecord(
            open=[
                HandTaskRecord(
                    task_id=task_id, kind=kind, concern=concern, key=self.keys.get(task_id)
                )
                for task_id, (kind, concern) in self.open.items()
            ],
            done=sorted(self.done),
        )

    def opened(self, task_id: int, kind: TaskKind, concern: str, key: str | None = None) -> None:
        self.open[task_id] = (kind, concern)
        if key is not None:
            self.keys[task_id] = key

    def answering(self, concern: str) -> dict[int, str]:
        """The open tasks (with a key) that answer `concern`: task id → key."""
        return {
            task_id: self.keys[task_id]
            for task_id, (_, flag) in self.open.items()
            if flag == concern and task_id in self.keys
        }

    def forget(self, task_ids: Collection[int]) -> set[str]:
        """These tasks are closed (moot, or done by the desk): the flags that no open task
        answers any more."""
        moot = {self.open.pop(task_id)[1] for task_id in task_ids if task_id in self.open}
        return moot - {flag for _, flag in self.open.values()}

    def closed(self, kinds: Collection[TaskKind] = ()) -> set[str]:
        """The case closed its open tasks of `kinds` (all when empty) as moot: the flags that
        no open task answers any more."""
        return self.forget(
            [task_id for task_id, (kind, _) in self.open.items() if not kinds or kind in kinds]
        )

    def passed_on(self, task_id: int) -> str | None:
        """Task `task_id` is done: the flag to clear now, if no other open task answers it."""
        self.done.add(task_id)
        return next(iter(self.forget([task_id])), None)
