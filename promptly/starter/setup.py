"""Prepares a Temporal namespace for Promptly: the typed search attributes of DESIGN.md §5."""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

SEARCH_ATTRIBUTES: dict[str, IndexedValueType.ValueType] = {
    "AppointmentStatus": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "ComplaintStatus": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "ClientId": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "ProviderId": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Department": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "AppointmentStart": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "SlaDeadline": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "SlaBreached": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "EscalationLevel": IndexedValueType.INDEXED_VALUE_TYPE_INT,
}


def dev_server_flags() -> list[str]:
    """`temporal server start-dev` flags that register the same attributes at start."""
    names = {
        IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: "Keyword",
        IndexedValueType.INDEXED_VALUE_TYPE_DATETIME: "Datetime",
        IndexedValueType.INDEXED_VALUE_TYPE_BOOL: "Bool",
        IndexedValueType.INDEXED_VALUE_TYPE_INT: "Int",
    }
    flags: list[str] = []
    for name, kind in SEARCH_ATTRIBUTES.items():
        flags += ["--search-attribute", f"{name}={names[kind]}"]
    return flags


async def register_search_attributes(client: Client, namespace: str) -> list[str]:
    """Add the attributes the namespace lacks; returns the names added (idempotent)."""
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        existing = set(listed.custom_attributes)
    except RPCError as err:
        # Temporal's time-skipping test server can add attributes but not list them.
        if err.status is not RPCStatusCode.UNIMPLEMENTED:
            raise
        existing = set()
    missing = {name: kind for name, kind in SEARCH_ATTRIBUTES.items() if name not in existing}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)
