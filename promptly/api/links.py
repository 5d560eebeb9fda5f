"""Client links: `GET /c/{token}` shows a page with one form, `POST /c/{token}` acts.

The signed token (promptly/domain/links.py) is the credential: it names one case and one
action and expires. The case kind comes from the workflow id's prefix; `LINK_CASES` maps
each kind to the actions its messages link to, so a new link action is one entry. Every
problem (tampered, expired, unknown action, unknown or closed case, refusal) is a page
in the client's language with a 4xx status, never an error trace.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ValidationError
from temporalio.client import Client

from promptly.api.appointment_links import APPOINTMENT_LINKS
from promptly.api.idempotency import update_id_for
from promptly.api.limits import RateLimits, client_address
from promptly.api.link_actions import (
    FormError,
    LinkAction,
    LinkCase,
    LinkStop,
    Opened,
    final_page,
)
from promptly.api.pages import (
    Form,
    Page,
    form_fields,
    locale_from,
    problem,
    render,
)
from promptly.config import Settings
from promptly.domain import keys, links
from promptly.domain.appointments.models import AppointmentRequest
from promptly.domain.common import CaseKind, Locale
from promptly.domain.complaints.models import ComplaintRequest, ComplaintView
from promptly.domain.readable_time import in_hours
from promptly.domain.surveys.models import SurveyAnswer, SurveyRequest, SurveyStatus, SurveyView
from promptly.services.case_starts import original_input
from promptly.services.case_views import ViewedKind, read_case_view
from promptly.services.errors import ServiceError, temporal_errors
from promptly.services.idempotency import derived_id
from promptly.services.updates import bounded_update
from promptly.workflows.appointment import AppointmentWorkflow
from promptly.workflows.complaint import ComplaintWorkflow
from promptly.workflows.survey import SurveyWorkflow

log = logging.getLogger("promptly.api.links")

router = APIRouter(include_in_schema=False)


# --- surveys -----------------------------------------------------------------------------------


def _survey_details(opened: Opened) -> list[tuple[str, str]]:
    request: SurveyRequest = opened.original
    return [
        (opened.t("label.service"), request.service),
        (opened.t("label.visit"), opened.when(request.visit_ended_at)),
    ]


def _survey_instead(opened: Opened) -> Page | None:
    view: SurveyView = opened.view
    if view.status is SurveyStatus.ANSWERED:
        return Page(title=opened.t("survey.already"))
    if view.status is SurveyStatus.CLOSED:
        return final_page(opened)
    return None


def _survey_form(opened: Opened, error: str) -> Page:
    return Page(
        title=opened.t("survey.title"),
        status_code=422 if error else 200,
        details=_survey_details(opened),
        form=Form(kind="survey", action=opened.url, error=error),
    )


def _survey_argument(opened: Opened, form: Mapping[str, str]) -> BaseModel:
    try:
        return SurveyAnswer(nps=int(form.get("nps", "")), comment=form.get("comment", "")[:4000])
    except (ValueError, ValidationError) as err:
        raise FormError(opened.t("survey.bad_nps")) from err


SURVEY_LINKS: dict[str, LinkAction] = {
    "survey": LinkAction(
        update=SurveyWorkflow.answer,
        form=_survey_form,
        argument=_survey_argument,
        done=lambda opened, view: Page(title=opened.t("survey.done")),
        instead=_survey_instead,
    ),
}

# --- complaint follow-up -----------------------------------------------------------------------


def _feedback_instead(opened: Opened) -> Page | None:
    view: ComplaintView = opened.view
    if view.feedback_score is not None:
        return Page(title=opened.t("survey.already"))
    return None


def _feedback_form(opened: Opened, error: str) -> Page:
    request: ComplaintRequest = opened.original
    return Page(
        title=opened.t("feedback.title"),
        status_code=422 if error else 200,
        details=[(opened.t("label.reference"), request.complaint_id)],
        form=Form(kind="survey", action=opened.url, error=error),
    )


COMPLAINT_LINKS: dict[str, LinkAction] = {
    "complaint_feedback": LinkAction(
        update=ComplaintWorkflow.feedback,
        form=_feedback_form,
        argument=_survey_argument,  # the same one question: 0–10 and an optional comment
        done=lambda opened, view: Page(title=opened.t("survey.done")),
        instead=_feedback_instead,
    ),
}

# By workflow-id prefix: the case kinds whose messages carry client links.
LINK_CASES: dict[str, LinkCase] = {
    "appointment-": LinkCase(
        ViewedKind(AppointmentWorkflow, CaseKind.APPOINTMENT),
        AppointmentRequest,
        person=lambda request: request.client,
        actions=APPOINTMENT_LINKS,
    ),
    "complaint-": LinkCase(
        ViewedKind(ComplaintWorkflow, CaseKind.COMPLAINT),
        ComplaintRequest,
        person=lambda request: request.customer,
        actions=COMPLAINT_LINKS,
    ),
    # A survey stores no view: its page asks the workflow.
    "survey-": LinkCase(
        ViewedKind(SurveyWorkflow, CaseKind.SURVEY),
        SurveyRequest,
        person=lambda request: request.client,
        actions=SURVEY_LINKS,
    ),
}


# --- the routes ----------------------------------------------------------------------------------


def _link_case(case_id: str) -> LinkCase | None:
    return next((case for prefix, case in LINK_CASES.items() if case_id.startswith(prefix)), None)


async def _claims(request: Request, token: str, locale: Locale) -> links.LinkClaims:
    settings: Settings = request.app.state.settings
    try:
        return links.verify(settings.keyring(keys.LINKS), token, datetime.now(UTC))
    except links.ExpiredLink as err:
        # Authentic, so its case is known: answer in the client's language if it is still there.
        locale = await _case_locale(request, err.claims.case_id, locale)
        raise LinkStop(problem(locale, "expired", 410), locale) from err
    except links.InvalidLink as err:
        raise LinkStop(problem(locale, "invalid", 400), locale) from err


async def _case_locale(request: Request, case_id: str, otherwise: Locale) -> Locale:
    """The language of the case's client or customer; `otherwise` (the browser's) when the
    case is gone or out of reach."""
    case = _link_case(case_id)
    if case is None:
        return otherwise
    try:
        with temporal_errors("not found"):
            original = await original_input(request.app.state.client, case_id, case.request_model)
    except ServiceError:
        return otherwise
    return case.person(original).locale


async def _read_view(request: Request, case: LinkCase, case_id: str) -> Any:
    # From PostgreSQL, as the API's GET: the query would wait behind every workflow task
    # queued at the worker. An update stores the case before it answers, so a page opened
    # after an action shows that action's state.
    settings: Settings = request.app.state.settings
    read = await read_case_view(
        request.app.state.client,
        request.app.state.pool,
        case.viewed,
        case_id,
        settings.status_reads,
    )
    return read.view


def visit_of(view: Any) -> tuple[datetime | None, int | None]:
    """The visit a case's links are for: its start and how often it moved (none for cases
    without a visit)."""
    return getattr(view, "start", None), getattr(view, "reschedules", None)


def _superseded(claims: links.LinkClaims, view: Any) -> bool:
    """A visit's link sent for another start (or move) than the visit's: the visit changed
    since (this link or an earlier one was used), so the link is spent."""
    return claims.superseded_by(*visit_of(view))


async def _open(request: Request, token: str) -> tuple[Opened, LinkAction, LinkCase]:
    locale = locale_from(request.headers.get("accept-language"))
    settings: Settings = request.app.state.settings
    claims = await _claims(request, token, locale)
    case = _link_case(claims.case_id)
    if case is None:
        raise LinkStop(problem(locale, "not_found", 404), locale)
    action = case.actions.get(claims.action)
    if action is None:
        raise LinkStop(problem(locale, "wrong_action", 400), locale)
    client: Client = request.app.state.client
    try:
        with temporal_errors("not found"):
            original = await original_input(client, claims.case_id, case.request_model)
            person = case.person(original)
            locale = person.locale
            view = await _read_view(request, case, claims.case_id)
    except ServiceError as err:
        if err.status == 404:
            raise LinkStop(problem(locale, "not_found", 404), locale) from err
        raise
    if _superseded(claims, view):
        raise LinkStop(problem(locale, "superseded", 409), locale)
    url = request.url.path

    def link_to(action: str, view: Any) -> str:
        # Signed as the message's links are: same expiry, spent once the visit moves.
        token = links.sign(settings.keyring(keys.LINKS), claims.sibling(action, *visit_of(view)))
        return f"{url.rsplit('/c/', 1)[0]}/c/{token}"

    opened = Opened(
        url=url,
        case_id=claims.case_id,
        person=person,
        original=original,
        view=view,
        locale=locale,
        link_to=link_to,
        terms={"late": in_hours(settings.late_change_within)},
    )
    return opened, action, case


def _link_update_id(token: str, argument: BaseModel) -> str:
    """The update id of what a link's button asks for: the same answer sent again from the
    same link (a second click, a reload that posts the form again) is the same update, which
    Temporal applies once in the run and answers with its first outcome; another answer (other
    minutes late) is another update. The link names one case, one action and one visit."""
    return derived_id(links.token_id(token), "link", argument.model_dump_json())


async def _refused(request: Request, opened: Opened, action: LinkAction, case: LinkCase) -> Page:
    """The page for an action the case's rules refused, in the client's words: what the case
    shows now explains it when it can (the visit began or closed meanwhile), else a plain
    "could not do that"; the rules' own reason is staff English and stays in the log."""
    try:
        with temporal_errors("not found"):
            now = replace(opened, view=await _read_view(request, case, opened.case_id))
    except ServiceError:
        now = opened
    page = action.instead(now)
    if page is None:
        return problem(opened.locale, "refused", 409)
    return page if page.status_code >= 400 else replace(page, status_code=409)


def over_limit(request: Request, token: str, act: bool) -> int | None:
    """Seconds the client should wait when this request is over a client-link limit (one
    link's actions, one address's actions across links, one address's pages), else None.
    Counted before anything is read: a refused request costs no Temporal or database call."""
    limits: RateLimits = request.app.state.limits
    address = client_address(request)
    if not act:
        return limits.link_pages_from.take(address)
    return limits.link_actions_from.take(address) or limits.link_actions.take(links.token_id(token))


def busy_page(locale: Locale, wait: int) -> Page:
    """The 429 page: nothing was done, when to try again (whole minutes), whom to ask."""
    return problem(locale, "busy", 429, minutes=max(1, math.ceil(wait / 60)))


async def _answer(request: Request, token: str, act: bool) -> HTMLResponse:
    locale = locale_from(request.headers.get("accept-language"))
    settings: Settings = request.app.state.settings

    def show(page: Page) -> HTMLResponse:
        if page.problem:  # what to do next: whom to ask
            page = replace(page, contact=str(settings.front_desk_email))
        return render(page, locale)

    wait = over_limit(request, token, act)
    if wait is not None:
        log.info("client link %s over its rate limit", "POST" if act else "GET")
        busy = show(busy_page(locale, wait))
        busy.headers["Retry-After"] = str(wait)
        return busy
    try:
        opened, action, case = await _open(request, token)
        locale = opened.locale
        instead = action.instead(opened)
        if instead is not None:
            return show(instead)
        if not act:
            return show(action.form(opened, ""))
        try:
            argument = action.argument(opened, await form_fields(request))
        except FormError as err:
            return show(action.form(opened, str(err)))
        handle = request.app.state.client.get_workflow_handle_for(case.viewed.run, opened.case_id)
        try:
            with temporal_errors("not found"):
                view = await bounded_update(
                    handle,
                    action.update,
                    argument,
                    settings.api_update_timeout,
                    update_id_for(request) or _link_update_id(token, argument),
                )
        except ServiceError as err:
            if err.status == 409:  # the case's rules refused
                log.info("client link %s refused: %s", opened.case_id, err.reason)
                return show(await _refused(request, opened, action, case))
            if err.status == 404:  # the case closed since we looked
                return show(final_page(opened))
            raise
        return show(action.done(opened, view))
    except LinkStop as stop:
        locale = stop.locale
        return show(stop.page)
    except Exception:
        log.exception("client link %s failed", "POST" if act else "GET")
        return show(problem(locale, "error", 503))


@router.get("/c/{token}", response_class=HTMLResponse)
async def show_link(request: Request, token: str) -> HTMLResponse:
    """The page behind a client link: what it does, and a button to do it."""
    return await _answer(request, token, act=False)


@router.post("/c/{token}", response_class=HTMLResponse)
async def use_link(request: Request, token: str) -> HTMLResponse:
    """Do what the link's button says, as the client."""
    return await _answer(request, token, act=True)
