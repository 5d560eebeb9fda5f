"""The ids of PostgreSQL rows a route names (a task, a legal hold, a webhook delivery).

They are bigints: a larger number names no row, so it is refused with a 422 naming it before
the database would refuse it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import Field

BIGINT_MAX = 2**63 - 1
RowIdPath = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
RowIdField = Annotated[int, Field(ge=1, le=BIGINT_MAX)]
