"""Rate limits of one API process: client links (actions per link, actions and pages per
client address) and failed API keys (per client address). docs/security.md "Rate limits".

Counts live in this process's memory: several API replicas each count their own share, and a
restart forgets them. The client address is what uvicorn made of the connection: the peer, or
the `X-Forwarded-For` of a proxy listed in `FORWARDED_ALLOW_IPS`. An IPv6 address counts by
its /64 (one subscriber's network), an IPv4-mapped one as the IPv4 address.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from fastapi import Request

from promptly.config import Settings

log = logging.getLogger("promptly.api.limits")

Clock = Callable[[], float]


def client_address(request: Request) -> str:
    """Whom a limit counts a request against: the client's IPv4 address or IPv6 /64."""
    host = request.client.host if request.client else ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class Window:
    """At most `most` hits per key in a sliding window of `seconds`, for at most `max_keys`
    keys and `max_hits` timestamps in all: past that, the key used least recently is forgotten
    (its count starts afresh). Memory stays bounded and a hit costs the same however many
    addresses call."""

    def __init__(
        self,
        most: int,
        seconds: float,
        clock: Clock,
        max_keys: int = 50_000,
        max_hits: int = 1_000_000,
    ) -> None:
        self._most = most
        self._seconds = seconds
        self._clock = clock
        self._max_keys = max(1, min(max_keys, max_hits // most))
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        """How many keys are counted now."""
        return len(self._hits)

    def take(self, key: str) -> int | None:
        """Count a hit: None when it is allowed, else the whole seconds until one will be."""
        now = self._clock()
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque(maxlen=self._most)
            if len(self._hits) > self._max_keys:
                self._hits.popitem(last=False)  # the one used least recently
        else:
            self._hits.move_to_end(key)
        while hits and hits[0] <= now - self._seconds:
            hits.popleft()
        if len(hits) >= self._most:
            return max(1, math.ceil(hits[0] + self._seconds - now))
        hits.append(now)
        return None


class FailedKeys:
    """Unknown API keys per client address: the `most`-th within `seconds` locks the address
    out for `seconds`: its unknown keys get 429 (a known key still passes). The lockout is
    logged once, at WARNING, with the address and never the key."""

    def __init__(self, most: int, seconds: float, clock: Clock, max_keys: int = 50_000) -> None:
        self._failures = Window(most - 1, seconds, clock, max_keys) if most > 1 else None
        self._seconds = seconds
        self._clock = clock
        self._max_keys = max_keys
        self._locked: OrderedDict[str, float] = OrderedDict()  # in the order they end

    def locked(self, address: str) -> int | None:
        """The whole seconds the address is still locked out for, or None."""
        until = self._locked.get(address)
        if until is None:
            return None
        left = until - self._clock()
        if left <= 0:
            del self._locked[address]
            return None
        return max(1, math.ceil(left))

    def failed(self, address: str) -> int | None:
        """Count an unknown key: the lockout's seconds when this one starts it, else None.
        The failures before a lockout are older than `seconds` once it ends: a fresh count."""
        if self._failures is not None and self._failures.take(address) is None:
            return None
        self._locked.pop(address, None)
        self._locked[address] = self._clock() + self._seconds
        if len(self._locked) > self._max_keys:
            self._locked.popitem(last=False)  # the lockout that ends first
        log.warning(
            "API keys from %s refused for %d s: too many unknown keys",
            address,
            math.ceil(self._seconds),
        )
        return math.ceil(self._seconds)


class RateLimits:
    """The process's limits, from the settings. `clock` (monotonic seconds) is read at every
    check, so a test can move it."""

    def __init__(self, settings: Settings, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        window = settings.link_limit_window.total_seconds()
        self.link_actions = Window(settings.link_actions_per_link, window, self._now)
        self.link_actions_from = Window(settings.link_actions_per_address, window, self._now)
        self.link_pages_from = Window(settings.link_pages_per_address, window, self._now)
        self.api_keys = FailedKeys(
            settings.api_key_failures, settings.api_key_lockout.total_seconds(), self._now
        )

    def _now(self) -> float:
        return self.clock()
