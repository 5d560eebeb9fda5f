"""What a client link does: the link as opened (its case, its client, their language), one
action's form, argument and answer page, and the refusals that end a link's use."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from promptly.api.pages import Page, problem, status_label, text, when
from promptly.domain.common import Actor, ActorKind, Locale, Person
from promptly.services.case_views import ViewedKind


class LinkStop(Exception):
    """Stop here and answer with this page (in `locale`, the language its text is in)."""

    def __init__(self, page: Page, locale: Locale) -> None:
        super().__init__(page.title)
        self.page = page
        self.locale = locale


@dataclass(frozen=True)
class Opened:
    """A verified link with its case loaded."""

    url: str
    case_id: str
    person: Person
    original: Any  # the request the case was started with
    view: Any  # the case's current `status`
    locale: Locale
    # The URL of this case's link for another action, for a visit at the view's start.
    link_to: Callable[[str, Any], str]
    # The office's terms the page texts state (`{late}`: the hours of the free-change line).
    terms: Mapping[str, Any]

    @property
    def actor(self) -> Actor:
        return Actor(kind=ActorKind.CLIENT, id=self.person.id)

    def t(self, key: str, **values: Any) -> str:
        return text(self.locale, key, **{**self.terms, **values})

    def when(self, moment: datetime) -> str:
        return when(moment, self.person.timezone, self.locale)


@dataclass(frozen=True)
class LinkAction:
    update: Any  # typed update method reference
    form: Callable[[Opened, str], Page]  # the page with the form (error text, or "")
    argument: Callable[[Opened, Mapping[str, str]], BaseModel]  # raises FormError
    done: Callable[[Opened, Any], Page]  # the page after the update, from its answer
    # Before showing the form: a page instead (already done, or no longer possible).
    instead: Callable[[Opened], Page | None]


@dataclass(frozen=True)
class LinkCase:
    # The page reads the view the case stored in PostgreSQL, or when there is none the
    # workflow's `status` query (services/case_views.py); the link's update runs there too.
    viewed: ViewedKind
    request_model: type[BaseModel]
    person: Callable[[Any], Person]
    actions: Mapping[str, LinkAction]


class FormError(Exception):
    pass


def final_page(opened: Opened) -> Page:
    """The case is over: no link of it acts any more."""
    return problem(
        opened.locale,
        "final",
        409,
        status=status_label(opened.locale, str(opened.view.status)),
    )
