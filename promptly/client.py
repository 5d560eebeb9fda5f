"""Clients of Temporal and PostgreSQL, as every Promptly process builds them.

The API, the CLI and the dev stack import this module, not `promptly.worker`, so that a client
does not load every activity and channel library. `promptly.worker` re-exports
`data_converter` and `make_client` (the public contract).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.envconfig import ClientConfig, ClientConnectConfig

from promptly import observability
from promptly.config import Settings


def data_converter(settings: Settings | None = None) -> DataConverter:
    """The converter every Promptly client must use: pydantic models on the wire and, when
    codec keys are configured (`PROMPTLY_CODEC_KEYS`), every payload and failure message
    encrypted (promptly/codec.py)."""
    codec = (settings or Settings()).payload_codec()
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        # Failure messages and stack traces can quote addresses: encrypted too.
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def connect_options(
    settings: Settings, profile: str | None = None, *, env: Mapping[str, str] | None = None
) -> ClientConnectConfig:
    """`Client.connect` options: Temporal's env config, else the settings' address/namespace.

    Temporal's environment configuration wins: the TOML profile (`TEMPORAL_CONFIG_FILE`,
    `TEMPORAL_PROFILE` or `profile`) with address, namespace, API key and TLS cert/key paths,
    then `TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`, `TEMPORAL_TLS_*`.
    `env` replaces the process environment (tests).
    """
    connect = ClientConfig.load_client_connect_config(profile=profile, override_env_vars=env)
    connect.setdefault("target_host", settings.temporal_address)
    connect.setdefault("namespace", settings.temporal_namespace)
    return connect


async def make_client(
    settings: Settings | None = None, *, metrics: bool = False, lazy: bool = False
) -> Client:
    """Connects via Temporal env config (TEMPORAL_* variables, TOML profiles), else settings.

    `metrics`: the worker's client, whose runtime serves `PROMPTLY_METRICS_BIND`; every other
    process (the API, the CLI) leaves the port alone, so it starts beside a worker.
    `lazy`: connect on the first call that needs Temporal (the CLI: a command that reads
    PostgreSQL only never waits for it); an unreachable Temporal fails that call instead.
    """
    settings = settings or Settings()
    return await Client.connect(
        **connect_options(settings),
        data_converter=data_converter(settings),
        runtime=observability.runtime(settings, metrics=metrics),
        lazy=lazy,
    )


# How long the pool retries one connection before giving up (see `open_pool`): its last try
# comes at most this long after PostgreSQL is back, within /health's 3 s wait.
RECONNECT_TIMEOUT_S = 2.0


def open_pool(settings: Settings) -> AsyncConnectionPool:
    """One connection per concurrent activity at most (`database_pool_size`): with fewer,
    activities past the pool's size queue for a connection inside their own timeout.

    Each connection is checked as it is handed out: after a PostgreSQL restart the pool
    replaces the dead ones instead of failing a request (or /health) once per connection.

    A connection the pool cannot make is retried with a growing backoff (1 s, 2 s, 4 s, ...)
    for `RECONNECT_TIMEOUT_S` only, then given up: the next request that finds the pool empty
    tries at once. With psycopg_pool's default (5 minutes) the waits grow past a minute during
    a long outage, and the pool stays empty (requests and /health 503) that long after
    PostgreSQL answers again."""

    async def check(conn: psycopg.AsyncConnection[Any]) -> None:
        try:
            await AsyncConnectionPool.check_connection(conn)
        except psycopg.Error:
            # One dead connection means a restart killed the idle ones too. Met one at a time,
            # each costs the caller the pool's backoff (1 s, 2 s, ...) and five outlast a 3 s
            # timeout: replace them all now, so the pool's next try gets a live one.
            await pool.check()
            raise

    pool = AsyncConnectionPool(
        settings.database_url,
        min_size=min(2, settings.pool_size()),
        max_size=settings.pool_size(),
        open=False,
        check=check,
        reconnect_timeout=RECONNECT_TIMEOUT_S,
    )
    return pool
