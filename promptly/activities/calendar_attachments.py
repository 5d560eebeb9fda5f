"""Which messages carry the appointment's calendar, and how.

An email to the client about the time of the visit (confirmation, reminder, cancellation)
carries an iTIP invitation as an attachment typed `text/calendar; method=…`, so mail clients
offer Accept / Decline and update the same event each time. Text messages cannot carry one:
the visit's page behind their link offers the `.ics` (`/c/{token}/calendar.ics`) instead.

The invitation is built from the `calendar` entry of the message context, which the
workflow derives from its case (promptly/domain/calendar_event.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from promptly.domain.calendar_event import CalendarEvent
from promptly.domain.common import Channel, RecipientRole
from promptly.domain.messages import Recipient

__all__ = ["Attachment", "invitation_attachment"]

# Templates that tell the client the time of the visit, or that it is off.
INVITING_TEMPLATES = frozenset({"confirmation", "reminder", "cancellation"})
INVITATION_FILENAME = "invite.ics"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes


def _calendar_event(context: dict[str, Any]) -> CalendarEvent | None:
    raw = context.get("calendar")
    return CalendarEvent.model_validate(raw) if isinstance(raw, dict) else None


def _for_client(template: str, to: Recipient, context: dict[str, Any]) -> bool:
    return (
        template in INVITING_TEMPLATES
        and to.role is RecipientRole.CLIENT
        and _calendar_event(context) is not None
    )


def invitation_attachment(
    template: str,
    channel: Channel,
    to: Recipient,
    context: dict[str, Any],
    message_links: dict[str, str],
    *,
    uid_domain: str,
    now: datetime,
) -> Attachment | None:
    """The invitation an email carries, or None for a message that carries none."""
    event = _calendar_event(context)
    if event is None or channel is not Channel.EMAIL or not _for_client(template, to, context):
        return None
    # Imported here: the workflows, the API and the CLI import this module through the
    # messaging activity, and only the sending worker needs `icalendar`.
    from promptly.domain import invitations

    method = invitations.method_for(event)
    content = invitations.invitation(
        event,
        method=method,
        uid_domain=uid_domain,
        stamp=now,
        attendee=invitations.Attendee(name=to.name, email=to.email) if to.email else None,
        links=message_links,
        locale=to.locale,
    )
    return Attachment(INVITATION_FILENAME, invitations.content_type(method), content)
