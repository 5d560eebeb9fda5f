"""Examples of the wire formats, for the OpenAPI document (`/docs`, `/openapi.json`): the
data docs/http-api.md uses (client C-17 Anna Nowak in Europe/Warsaw, provider P-3, visit
A-1001), made up, never a real person's. A model lists its own with `examples(...)`;
tests/test_api_contract.py checks that each is valid against the model it documents. The
OpenAPI document leaves out an example's nulls: give a value, or leave the field out."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

Example = dict[str, Any]

CLIENT: Example = {
    "id": "C-17",
    "name": "Anna Nowak",
    "email": "anna@example.com",
    "phone": "+48600100200",
    "preferred_channel": "email",
    "locale": "pl",
    "timezone": "Europe/Warsaw",
}
PROVIDER: Example = {"id": "P-3", "name": "Jan Kowalski", "email": "jan@example.com"}
AS_CLIENT: Example = {"kind": "client", "id": "C-17"}
AS_PROVIDER: Example = {"kind": "provider", "id": "P-3"}
AS_STAFF: Example = {"kind": "staff", "id": "ewa"}
START = "2027-06-01T10:00:00+02:00"
NEW_START = "2027-06-03T10:00:00+02:00"
# A booked visit, its confirmation sent (AppointmentView).
APPOINTMENT_VIEW: Example = {
    "appointment_id": "A-1001",
    "status": "Booked",
    "start": START,
    "end": "2027-06-01T10:50:00+02:00",
    "client_id": "C-17",
    "client_phone": "+48600100200",
    "provider_id": "P-3",
    "service": "Physiotherapy consultation",
    "location": "ul. Prosta 1, Warszawa",
    "booked_at": "2027-05-20T09:12:00+02:00",
    "confirmation_deadline": "2027-05-21T09:12:00+02:00",
    "provider_ack_deadline": "2027-05-21T09:12:00+02:00",
    "reminder_at": "2027-05-30T10:00:00+02:00",
    "response_deadline": "2027-05-28T12:00:00+02:00",
    "next_call_at": "2027-05-28T12:00:00+02:00",
    "confirmation_sent": True,
    "reminder_sent": False,
    "provider_acknowledged": True,
    "call_attempts": 0,
    "max_call_attempts": 3,
    "needs_attention": [],
    "no_show_at": "2027-06-01T10:15:00+02:00",
    "timeline": [
        {
            "at": "2027-05-20T09:12:00+02:00",
            "kind": "status",
            "actor": {"kind": "system", "id": "crm", "via": "crm"},
            "detail": "Booked for 2027-06-01 10:00 Europe/Warsaw",
        },
        {
            "at": "2027-05-20T09:12:05+02:00",
            "kind": "message",
            "actor": {"kind": "system", "id": "promptly"},
            "detail": "Confirmation sent by email",
        },
    ],
    "version": "4-1-3f9c0a1b2c3d",
}


def examples(*items: Example) -> ConfigDict:
    """A model's config listing `items` as its JSON Schema `examples` (merged with the
    config it inherits)."""
    return ConfigDict(json_schema_extra={"examples": list(items)})
