"""Query parameters a back-office route does not take are refused, 422 naming each.

A typo in a filter (`?stauts=Confirmed`) must not answer the whole unfiltered list as if it
were the filtered one; bodies refuse unknown fields for the same reason. The route's own
declaration is the list of what it takes: its query parameters and those of its
dependencies (a list's filters and paging), so a new parameter needs nothing here.

The check runs in the API-key dependency (promptly/api/auth.py `require`), after the key is
known: every back-office route has it, and a caller without a key learns nothing about a
route. Client links, calendar feeds and the providers' webhooks are left alone: their URLs
are followed by mail clients, calendar apps and providers, which may add parameters of their
own (`utm_source`, a cache buster).
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant

from promptly.services.errors import invalid_input


def query_parameters(dependant: Dependant) -> list[str]:
    """The names of the query parameters `dependant` takes (its own first, then each of its
    dependencies'), in the order they are declared, each once."""
    names = [field.alias for field in dependant.query_params]
    for dependency in dependant.dependencies:
        names.extend(query_parameters(dependency))
    return list(dict.fromkeys(names))


def refuse_unknown_query(request: Request) -> None:
    """422 naming each query parameter the matched route does not take."""
    if not request.query_params:
        return
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if not isinstance(dependant, Dependant):
        return
    known = query_parameters(dependant)
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in known]
    if not unknown:
        return
    takes = f"known: {', '.join(known)}" if known else "this route takes none"
    raise invalid_input([(name, f"unknown query parameter; {takes}") for name in unknown])
