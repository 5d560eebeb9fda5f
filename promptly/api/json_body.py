"""JSON answers of the API: ISO 8601 times with their offset, to the second.

pydantic writes every datetime with its microseconds (`…21:42:26.834716+00:00`); nobody
reads them and they make equal moments look different, so the answers drop them.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.responses import JSONResponse

_FRACTION = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.\d+(Z|[+-]\d{2}:\d{2})$")


def to_the_second(value: Any) -> Any:
    """`value` (decoded JSON) with every ISO time's fraction of a second removed."""
    if isinstance(value, str):
        return _FRACTION.sub(r"\1\2", value) if "T" in value else value
    if isinstance(value, list):
        return [to_the_second(item) for item in value]
    if isinstance(value, dict):
        return {key: to_the_second(item) for key, item in value.items()}
    return value


class ApiJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return super().render(to_the_second(content))
