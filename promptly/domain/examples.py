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


def examples(*items: Example) -> ConfigDict:
    """A model's config listing `items` as its JSON Schema `examples` (merged with the
    config it inherits)."""
    return ConfigDict(json_schema_extra={"examples": list(items)})
