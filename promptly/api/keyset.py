"""Keyset paging of the lists read from PostgreSQL (`/tasks`, `/promises`, `/billing`,
`/legal-holds`, `/webhooks/deliveries`, `/messages`): the same parameters for each (`page_size`,
`page_token`, and `limit`, `page_size`'s old name) and one token, signed and bound to its list
and filters as the case lists' (case_lists.encode_token), carrying the sort key of the last
row served. A row added or closed between two pages shifts nothing: the next page starts after
that key.
"""

# No `from __future__ import annotations`: the paging parameters' bounds are read from
# keyset_paging's arguments when FastAPI reads the annotations.

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request
from pydantic import Field

from promptly.api.case_lists import decode_token, encode_token
from promptly.config import Settings
from promptly.domain import keys

# One key part: a row's time, id or name, as its ORDER BY column reads.
KeyPart = datetime | int | str
Key = tuple[Any, ...]
T = TypeVar("T")

# Each list answer's token of its next page.
NextPageToken = Annotated[
    str | None, Field(description="pass as page_token for the next page; null on the last")
]


@dataclass(frozen=True)
class KeysetPaging:
    size: int
    token: str | None


def keyset_paging(default: int = 100, most: int = 500) -> Any:
    """The paging parameters of a list PostgreSQL answers (a route whose answer held more
    rows before it paged keeps that many as its default)."""

    def paging(
        page_size: Annotated[int, Query(ge=1, le=most)] = default,
        page_token: Annotated[
            str | None,
            Query(
                max_length=4096,
                description="the answer's next_page_token, with the same filters",
            ),
        ] = None,
        limit: Annotated[
            int | None,
            Query(ge=1, le=most, deprecated=True, description="page_size's old name"),
        ] = None,
    ) -> KeysetPaging:
        return KeysetPaging(page_size if limit is None else limit, page_token)

    return Depends(paging)


KEYSET_PAGING = keyset_paging()


def bound_to(name: str, *filters: object) -> str:
    """What a page token is bound to: a token of another list or other filters is refused."""
    parts = [v.astimezone(UTC).isoformat() if isinstance(v, datetime) else v for v in filters]
    return "\0".join([name, *map(str, parts)])


def _text(part: KeyPart) -> str:
    return part.isoformat() if isinstance(part, datetime) else str(part)


async def keyset_page(
    request: Request,
    query: str,
    paging: KeysetPaging,
    key_types: Sequence[Callable[[str], KeyPart]],
    fetch: Callable[[Key | None, int], Awaitable[list[T]]],
    key: Callable[[T], Sequence[KeyPart]],
) -> tuple[list[T], str | None]:
    """One page of `fetch` (called with the last row's key, or None for the first page, and
    how many rows to read: one more than the page, to tell whether another follows), and the
    token of the next page (None at the end). `key_types` read the key's parts back
    (`datetime.fromisoformat`, `int`, `str`); no part of a key holds a '|'."""
    settings: Settings = request.app.state.settings
    keyring = settings.keyring(keys.PAGE_TOKENS)
    raw = decode_token(keyring, query, paging.token)  # a forged token goes no further
    after = None
    if raw is not None:
        parts = raw.decode().split("|")
        after = tuple(read(part) for read, part in zip(key_types, parts, strict=True))
    items = await fetch(after, paging.size + 1)
    if len(items) <= paging.size:
        return items, None
    items = items[: paging.size]
    last = "|".join(_text(part) for part in key(items[-1]))
    return items, encode_token(keyring, query, last.encode())
