"""The appointment's client links: confirm, cancel, reschedule, "I'm running late" and the
provider's acknowledge, each with its form, the update it runs and the page that answers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from promptly.api.link_actions import FormError, LinkAction, Opened, final_page
from promptly.api.pages import (
    Form,
    Page,
    problem,
)
from promptly.domain.appointments.models import (
    FINAL_APPOINTMENT_STATUSES,
    MAX_DELAY_MINUTES,
    AcknowledgeInput,
    AppointmentRequest,
    AppointmentStatus,
    AppointmentView,
    BillingOutcome,
    CancelInput,
    ConfirmInput,
    ReportDelayInput,
    RescheduleInput,
)
from promptly.domain.calendar_event import CALENDAR_LINK_ACTION
from promptly.domain.common import Actor, ActorKind
from promptly.domain.future_times import not_bookable
from promptly.workflows.appointment import AppointmentWorkflow

# --- appointments ------------------------------------------------------------------------------


def _appointment_details(opened: Opened, view: AppointmentView) -> list[tuple[str, str]]:
    """The visit as the page shows it: as opened, or as an action left it."""
    request: AppointmentRequest = opened.original
    details = [
        (opened.t("label.service"), request.service),
        (opened.t("label.when"), f"{opened.when(view.start)} ({opened.person.timezone})"),
        (opened.t("label.where"), request.location),
        (opened.t("label.with"), request.provider.name),
    ]
    if request.instructions:
        details.append((opened.t("label.note"), request.instructions))
    if view.prepayment_required:
        details.append((opened.t("label.prepayment"), opened.t("prepayment")))
    return details


# What a client can do from any page of their visit: a text message carries one link.
CLIENT_OPTIONS = ("confirm", "reschedule", "cancel", "late", CALENDAR_LINK_ACTION)
# While the visit is ahead; once the client is checked in there is nothing left to change.
AHEAD = frozenset(
    {AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED, AppointmentStatus.UNCONFIRMED}
)


def visit_options(opened: Opened, view: AppointmentView, shown: str = "") -> list[tuple[str, str]]:
    """Links to the visit's other client actions, and its calendar file, while it is ahead."""
    if view.status not in AHEAD or shown == "acknowledge":
        return []
    wanted = [
        action
        for action in CLIENT_OPTIONS
        if action != shown
        and not (action == "confirm" and view.status is AppointmentStatus.CONFIRMED)
    ]
    return [
        (
            opened.t(f"option.{action}"),
            opened.link_to(action, view)
            + ("/calendar.ics" if action == CALENDAR_LINK_ACTION else ""),
        )
        for action in wanted
    ]


def _fee_note(opened: Opened) -> str:
    """What a change costs now: free after the provider's delay or cancellation."""
    free = opened.view.free_reschedule
    return opened.t("cancel.policy_free" if free else "cancel.policy")


def _visit_page(
    opened: Opened, view: AppointmentView, title: str, *lines: str, shown: str = ""
) -> Page:
    """The visit as it stands (after an action, or already done): what happened, the visit,
    and what else the client can do."""
    return Page(
        title=opened.t(title),
        lines=list(lines),
        details=_appointment_details(opened, view),
        options=visit_options(opened, view, shown),
    )


def _appointment_page(kind: str, button: str, opened: Opened, error: str = "", **form: str) -> Page:
    name = opened.person.name
    return Page(
        title=opened.t(f"{kind}.title"),
        status_code=422 if error else 200,
        lines=[opened.t(f"{kind}.intro", name=name)],
        details=_appointment_details(opened, opened.view),
        form=Form(kind=kind, action=opened.url, button=opened.t(button), error=error, **form),
        note=_fee_note(opened) if kind in ("cancel", "reschedule") else "",
        options=visit_options(opened, opened.view, shown=kind),
    )


def _no_longer_ahead(opened: Opened) -> Page | None:
    """The page instead of a change once the visit is no longer ahead: it closed (its status),
    or the client is checked in and it has begun."""
    view: AppointmentView = opened.view
    if view.status in FINAL_APPOINTMENT_STATUSES:
        return final_page(opened)
    if view.status not in AHEAD:
        return problem(opened.locale, "began", 409)
    return None


def _confirm_instead(opened: Opened) -> Page | None:
    view: AppointmentView = opened.view
    if view.status not in AHEAD:
        return _no_longer_ahead(opened)
    if view.status is AppointmentStatus.CONFIRMED:
        return _visit_page(opened, view, "confirm.already")
    return None


def _confirmed(opened: Opened, view: AppointmentView) -> Page:
    see_you = opened.t("confirm.see_you", when=opened.when(view.start))
    return _visit_page(opened, view, "confirm.done", see_you)


def _cancel_instead(opened: Opened) -> Page | None:
    return _no_longer_ahead(opened)


def _cancel_argument(opened: Opened, form: Mapping[str, str]) -> BaseModel:
    reason = form.get("reason", "").strip()[:2000] or "cancelled by the client via the link"
    return CancelInput(reason=reason, actor=opened.actor)


def _cancelled(opened: Opened, view: AppointmentView) -> Page:
    free = view.billing is not BillingOutcome.LATE_CANCEL
    return _visit_page(
        opened, view, "cancel.done", opened.t("cancel.free" if free else "cancel.late")
    )


def _reschedule_instead(opened: Opened) -> Page | None:
    view: AppointmentView = opened.view
    if view.status in FINAL_APPOINTMENT_STATUSES and view.free_reschedule:
        return None  # after a waiver or the provider's cancellation: booked again, free
    return _no_longer_ahead(opened)


def _reschedule_form(opened: Opened, error: str) -> Page:
    return _appointment_page(
        "reschedule",
        "reschedule.button",
        opened,
        error,
        label=opened.t("reschedule.field", timezone=opened.person.timezone),
    )


def _reschedule_argument(opened: Opened, form: Mapping[str, str]) -> BaseModel:
    raw = form.get("new_start", "").strip().replace(" ", "T")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError as err:
        raise FormError(opened.t("reschedule.bad_time", example=_example_time(opened))) from err
    if moment.tzinfo is None:  # datetime-local: wall time where the client lives
        wall = moment
        moment = moment.replace(tzinfo=ZoneInfo(opened.person.timezone))
        if moment.astimezone(UTC).astimezone(moment.tzinfo).replace(tzinfo=None) != wall:
            # The hour the clocks skip in spring: no such time there that day.
            raise FormError(opened.t("reschedule.no_such_time"))
    if not_bookable(moment, datetime.now(UTC)) is not None:  # bad input, as in the API
        past = moment <= datetime.now(UTC)
        raise FormError(opened.t("reschedule.past" if past else "reschedule.too_far"))
    if moment == opened.view.start:  # the workflow refuses a move to where it is
        raise FormError(opened.t("reschedule.same_time"))
    return RescheduleInput(new_start=moment, actor=opened.actor)


def _example_time(opened: Opened) -> str:
    """A time as the form takes it, a week after the visit's: ahead of now, in the client's
    zone, and never a date that has already passed."""
    view: AppointmentView = opened.view
    later = (view.start + timedelta(days=7)).astimezone(ZoneInfo(opened.person.timezone))
    return later.strftime("%Y-%m-%d %H:%M")


def _rescheduled(opened: Opened, view: AppointmentView) -> Page:
    new_time = opened.t("reschedule.new_time", when=opened.when(view.start))
    return _visit_page(opened, view, "reschedule.done", new_time)


def _late_form(opened: Opened, error: str) -> Page:
    return _appointment_page(
        "late", "late.button", opened, error, label=opened.t("late.field"), value="10"
    )


def _late_argument(opened: Opened, form: Mapping[str, str]) -> BaseModel:
    """The client runs late: `report_delay` with the client as actor (moves the no-show
    moment within the configured limit; no fee rule changes)."""
    try:
        return ReportDelayInput(
            minutes=int(form.get("minutes", "").strip()),
            reason="running late (client link)",
            actor=opened.actor,
        )
    except (ValueError, ValidationError) as err:
        raise FormError(opened.t("late.bad_minutes", most=MAX_DELAY_MINUTES)) from err


def _late_noted(opened: Opened, view: AppointmentView) -> Page:
    held = opened.t("late.held", when=opened.when(view.no_show_at or view.start))
    return _visit_page(opened, view, "late.done", held, shown="late")


def _acknowledge_instead(opened: Opened) -> Page | None:
    view: AppointmentView = opened.view
    if view.status not in AHEAD:
        return _no_longer_ahead(opened)
    if view.provider_acknowledged:
        return _visit_page(opened, view, "acknowledge.already", shown="acknowledge")
    return None


def _acknowledge_argument(opened: Opened, form: Mapping[str, str]) -> BaseModel:
    # The acknowledge link goes to the provider only: the one who opens it acts as them.
    return AcknowledgeInput(actor=Actor(kind=ActorKind.PROVIDER, id=opened.original.provider.id))


def _acknowledged(opened: Opened, view: AppointmentView) -> Page:
    return _visit_page(opened, view, "acknowledge.done", shown="acknowledge")


APPOINTMENT_LINKS: dict[str, LinkAction] = {
    "acknowledge": LinkAction(
        update=AppointmentWorkflow.acknowledge,
        form=lambda opened, error: _appointment_page(
            "acknowledge", "acknowledge.button", opened, error
        ),
        argument=_acknowledge_argument,
        done=_acknowledged,
        instead=_acknowledge_instead,
    ),
    "confirm": LinkAction(
        update=AppointmentWorkflow.confirm,
        form=lambda opened, error: _appointment_page("confirm", "confirm.button", opened, error),
        argument=lambda opened, form: ConfirmInput(actor=opened.actor),
        done=_confirmed,
        instead=_confirm_instead,
    ),
    "cancel": LinkAction(
        update=AppointmentWorkflow.cancel,
        form=lambda opened, error: _appointment_page("cancel", "cancel.button", opened, error),
        argument=_cancel_argument,
        done=_cancelled,
        instead=_cancel_instead,
    ),
    "late": LinkAction(
        update=AppointmentWorkflow.report_delay,
        form=_late_form,
        argument=_late_argument,
        done=_late_noted,
        instead=_cancel_instead,  # while the visit is ahead; the workflow refuses it too late
    ),
    "reschedule": LinkAction(
        update=AppointmentWorkflow.reschedule,
        form=_reschedule_form,
        argument=_reschedule_argument,
        done=_rescheduled,
        instead=_reschedule_instead,
    ),
}
