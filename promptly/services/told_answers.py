"""What a phone client told the desk, answering the message read out to them: the desk
completes the call task (staff_tasks.py) with it, and it runs the case's update as the
client's own answer, as a link or a reply would, naming who heard it (`taken_by`).

- `score` (0–10): a survey's one question, or a complaint follow-up's.
- `satisfied`: whether the customer accepts a complaint's proposed resolution (their verdict).

The note is the client's comment. Which question a call answers is the message's: its
template, or for a text passed on by phone after the SMS failed, the template of that text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from promptly.domain.common import Actor, ActorKind, Model
from promptly.domain.complaints.models import CustomerVerdictInput
from promptly.domain.read_outs import ReadOutOutcome
from promptly.domain.surveys.models import SurveyAnswer
from promptly.services.delivery_receipts import FALLBACK_SUFFIX
from promptly.services.errors import ServiceError, invalid_input
from promptly.services.updates import run_update
from promptly.workflows.complaint import ComplaintWorkflow
from promptly.workflows.survey import SurveyWorkflow

if TYPE_CHECKING:  # task_rules and staff_tasks import this module
    from promptly.services.staff_tasks import TaskCompletion
    from promptly.services.task_rules import Completing

# The completion's fields a client's answer comes in, and the messages that ask for each.
ASKED_BY = {
    "score": "a survey or a complaint's follow-up",
    "satisfied": "a complaint's resolution proposal",
}


class ReadOut(NamedTuple):
    """The message a call task read out, as far as its question goes."""

    template: str | None  # whose question the call asked (None: no message known)
    client_id: str | None  # the case's client


NOTHING_READ = ReadOut(None, None)


@dataclass(frozen=True)
class Heard:
    """An answer as the desk heard it: the value, the client's words, who took it, and the
    client the case is about (`cases.client_id`)."""

    value: Any
    comment: str
    taken_by: Actor
    client_id: str | None


def _score(heard: Heard) -> SurveyAnswer:
    return SurveyAnswer(nps=heard.value, comment=heard.comment, taken_by=heard.taken_by)


def _verdict(heard: Heard) -> CustomerVerdictInput:
    if heard.client_id is None:  # the case row is written at filing, before any message
        raise ServiceError(409, "the complaint's customer is not on record; nothing changed")
    # The customer's verdict, as if they had given it themselves; the desk only heard it.
    customer = Actor(kind=ActorKind.CLIENT, id=heard.client_id)
    return CustomerVerdictInput(
        satisfied=heard.value, comment=heard.comment, actor=customer, taken_by=heard.taken_by
    )


@dataclass(frozen=True)
class Question:
    """A case's question a message asks: the field answering it, the update taking it."""

    answer: str  # a key of ASKED_BY
    noun: str  # the case, as a 404/409 names it
    update: Any  # a typed `@workflow.update` method reference
    argument: Callable[[Heard], Model]


SURVEY_SCORE = Question("score", "survey", SurveyWorkflow.answer, _score)
# The message read out (its template) → the question it asks.
QUESTIONS: dict[str, Question] = {
    "survey": SURVEY_SCORE,
    "survey_reminder": SURVEY_SCORE,
    "complaint_survey": Question("score", "complaint", ComplaintWorkflow.feedback, _score),
    "resolution_proposed": Question(
        "satisfied", "complaint", ComplaintWorkflow.customer_verdict, _verdict
    ),
}


def answers(done: TaskCompletion) -> list[str]:
    """The answers the completion carries (none for most)."""
    return [name for name in ASKED_BY if getattr(done, name) is not None]


def refusal(template: str | None, done: TaskCompletion) -> list[tuple[str, str]]:
    """Why the completion's answer cannot go with this call (the 422's fields); [] if it can.
    `template`: the message the desk read out (None: the task read none out)."""
    given = answers(done)
    if not given:
        return []
    if len(given) > 1:
        return [("satisfied", "one call answers one question: give score or satisfied")]
    [name] = given
    question = QUESTIONS.get(template or "")
    if question is None or question.answer != name:
        return [(name, f"only {ASKED_BY[name]} asks for one")]
    if done.outcome != ReadOutOutcome.REACHED:
        return [(name, "only a client reached (outcome reached) can give one")]
    return []


async def answer_told(job: Completing) -> Any:
    """Run the case's update with the answer the client told the desk: the case's status
    after it, or None when they told none. Refused (422) before anything is written when
    the message does not ask it; a case no longer asking it refuses (409)."""
    if not answers(job.done):
        return None
    message_id = job.task.data.get("message_id")
    read = await read_out(job.pool, message_id) if isinstance(message_id, int) else NOTHING_READ
    if refused := refusal(read.template, job.done):
        raise invalid_input(refused)
    question = QUESTIONS[read.template or ""]
    value = getattr(job.done, question.answer)
    heard = Heard(value, job.done.note, job.actor, read.client_id)
    return await run_update(
        job.client.get_workflow_handle(job.task.case_id),
        question.noun,
        question.update,
        question.argument(heard),
        job.settings.api_update_timeout,
        f"{job.update_id}/answer" if job.update_id else None,
    )


async def read_out(pool: AsyncConnectionPool, message_id: int) -> ReadOut:
    """The message read out: its template (a text passed on after its SMS failed: the
    text's), and the case's client."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """SELECT coalesce(sms.template, m.template) AS template, c.client_id
                 FROM messages m
                 LEFT JOIN messages sms
                   ON m.template = 'undelivered_sms'
                  AND sms.idempotency_key = left(m.idempotency_key, -length(%(suffix)s))
                 LEFT JOIN cases c ON c.case_id = m.case_id
                WHERE m.id = %(id)s""",
            {"id": message_id, "suffix": FALLBACK_SUFFIX},
        )
        row = await cur.fetchone()
    return ReadOut(row["template"], row["client_id"]) if row else NOTHING_READ
