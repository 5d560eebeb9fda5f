"""API keys with roles for the back-office routes (client links need none: the token is the key).

Keys come from `PROMPTLY_API_KEYS` (settings `api_keys`): name → SHA-256 of the key and a
role. Requests send the key in the `X-API-Key` header. The key's name becomes the actor of
an update whose body names none, so the timeline says which integration or person acted. A
body may name another actor only of a kind the key may act as (`acts_as`; admin: any), and
the recorded actor still carries the key's name (`via`): a back-office key cannot pass for
a provider.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from pydantic import BaseModel

from promptly.api.limits import RateLimits, client_address
from promptly.api.query_params import refuse_unknown_query
from promptly.config import ApiKey, ApiRole
from promptly.domain.common import Actor, ActorKind
from promptly.services.errors import ServiceError

API_KEY_HEADER = "X-API-Key"

ALL_ROLES = frozenset(ApiRole)
# Who may do what. Admin may do everything; compliance reads, and places legal holds
# (api/legal_holds.py: a hold changes no case, it only keeps one from the purge).
READ = ALL_ROLES
BOOK = frozenset({ApiRole.BACKOFFICE, ApiRole.STAFF, ApiRole.ADMIN})
ACT = frozenset({ApiRole.BACKOFFICE, ApiRole.STAFF, ApiRole.ADMIN})
TASKS = frozenset({ApiRole.BACKOFFICE, ApiRole.STAFF, ApiRole.ADMIN})
# Admins only: the webhook outbox and the sends retrying (URLs and last errors show how the back
# office and the providers are wired), and encoding payloads (input a strict worker accepts).
ADMIN = frozenset({ApiRole.ADMIN})

_header = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="An API key from PROMPTLY_API_KEYS; its role decides what it may do.",
)


class Caller(BaseModel):
    """Who is calling: the key's name, its role, the actor its actions are recorded as, and the
    actor kinds a request body may name instead."""

    name: str
    role: ApiRole
    actor: Actor
    acts_as: frozenset[ActorKind]

    def actor_for(self, named: Actor | None) -> Actor:
        """The actor an action is recorded as: the key's own, or the one the body names if
        this key may act as that kind (403 otherwise); always with the key's name in `via`."""
        if named is None:
            return self.actor
        if named.kind not in self.acts_as:
            allowed = ", ".join(sorted(kind.value for kind in self.acts_as))
            raise ServiceError(
                403,
                f"API key {self.name} may not act as {named.kind.value} (it may act as: "
                f"{allowed}); set acts_as in PROMPTLY_API_KEYS to allow it",
            )
        return named.model_copy(update={"via": self.name})


def hash_key(key: str) -> str:
    """What `PROMPTLY_API_KEYS` stores for a key: its SHA-256, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def default_actor_kind(role: ApiRole) -> ActorKind:
    return ActorKind.SYSTEM if role is ApiRole.BACKOFFICE else ActorKind.STAFF


class ApiKeys:
    def __init__(self, keys: Mapping[str, ApiKey]) -> None:
        self._keys = dict(keys)

    def identify(self, presented: str) -> Caller | None:
        digest = hash_key(presented)
        found: str | None = None
        for name, spec in self._keys.items():  # compare every one: no early exit
            if hmac.compare_digest(digest.encode(), spec.key_sha256.encode()):
                found = name
        return self.named(found) if found is not None else None

    def fingerprint(self, name: str) -> str | None:
        """A short fingerprint of the key now behind `name` (None once it is gone)."""
        spec = self._keys.get(name)
        return None if spec is None else spec.key_sha256[:16]

    def named(self, name: str) -> Caller | None:
        """The caller a key name stands for now (None once the key is gone)."""
        spec = self._keys.get(name)
        if spec is None:
            return None
        kind = spec.actor_kind or default_actor_kind(spec.role)
        if spec.acts_as is not None:
            acts_as = frozenset(spec.acts_as) | {kind}
        elif spec.role is ApiRole.ADMIN:
            acts_as = frozenset(ActorKind)
        else:
            acts_as = frozenset({kind})
        return Caller(
            name=name,
            role=spec.role,
            actor=Actor(kind=kind, id=name, via=name),
            acts_as=acts_as,
        )


def identify(request: Request, presented: str) -> Caller | None:
    """The caller a presented key stands for, None for an unknown key (counted against the
    client's address). Once an address has presented `api_key_failures` unknown keys, its
    unknown keys are refused with 429 and `Retry-After` until its lockout ends
    (api/limits.py); a known key still gets through: keys are long random strings, so an
    outsider sharing the address (a NAT, an untrusted proxy) cannot lock the back office out."""
    keys: ApiKeys = request.app.state.api_keys
    found = keys.identify(presented)
    if found is not None:
        return found
    limits: RateLimits = request.app.state.limits
    address = client_address(request)
    locked = limits.api_keys.locked(address)
    if locked is None:
        limits.api_keys.failed(address)  # the last one allowed locks the address
        return None
    raise ServiceError(
        429,
        f"too many unknown API keys from this address: try again in {locked} s",
        headers={"Retry-After": str(locked)},
    )


def require(roles: frozenset[ApiRole]) -> Any:
    """A dependency admitting callers whose key has one of `roles` (admin always), then
    refusing query parameters the route does not take (promptly/api/query_params.py)."""
    allowed = roles | {ApiRole.ADMIN}
    names = ", ".join(sorted(role.value for role in allowed))

    async def caller(
        request: Request, key: Annotated[str | None, Security(_header)] = None
    ) -> Caller:
        if not key:
            raise ServiceError(
                401,
                f"an API key is required in the {API_KEY_HEADER} header",
                headers={"WWW-Authenticate": API_KEY_HEADER},
            )
        found = identify(request, key)
        if found is None:
            raise ServiceError(
                401, "this API key is not known", headers={"WWW-Authenticate": API_KEY_HEADER}
            )
        if found.role not in allowed:
            raise ServiceError(
                403, f"role {found.role.value} may not do this; needs one of {names}"
            )
        refuse_unknown_query(request)
        return found

    return Depends(caller)
