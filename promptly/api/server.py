"""`promptly api`: the HTTP API in a process of its own (production, one per replica)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import uvicorn

from promptly.config import Settings
from promptly.observability import formatter_for


def default_log_config(settings: Settings) -> dict[str, Any]:
    """uvicorn's own lines and the app's records (a compliance read is one) to stderr at
    PROMPTLY_LOG_LEVEL, one format for both as PROMPTLY_LOG_FORMAT says, as the worker's are:
    a JSON log collector gets no plain-text "Started server process" among its lines."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"promptly": {"()": formatter_for(settings)}},
        "handlers": {
            "promptly": {
                "class": "logging.StreamHandler",
                "formatter": "promptly",
                "stream": "ext://sys.stderr",
            }
        },
        # uvicorn's start, stop and error lines at INFO whatever the app's level, as uvicorn
        # logs them by default; they reach the one handler through the root.
        "loggers": {"uvicorn": {"level": "INFO"}},
        "root": {"handlers": ["promptly"], "level": settings.log_level},
    }


def serve(host: str, port: int, log_config: Path | None = None) -> None:
    """uvicorn on the app factory; returns when it stops (the caller ends the process).

    Access logs stay off: client-link paths carry their signed tokens. Without a logging
    config the app's records still go out (`default_log_config`).
    """
    from promptly.dev.ports import refuse_taken_ports

    refuse_taken_ports({port: "the HTTP API"}, host=host, other_ports="promptly api --port")
    settings = Settings()
    settings.refuse_unsafe_start()
    _reach_temporal(settings)
    _schema_is_current(settings)
    uvicorn.run(
        "promptly.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        access_log=False,
        proxy_headers=True,
        log_config=str(log_config) if log_config else default_log_config(settings),
    )


def _reach_temporal(settings: Settings) -> None:
    """Connect once before uvicorn starts: the app's lifespan cannot start without Temporal,
    and a failure there is a page of traceback, where the process's last word
    (`promptly.process`) says it in one line. PostgreSQL is not needed to start."""
    from promptly.client import make_client

    settings.master_secret()  # the same refusal create_app makes, before any connection
    asyncio.run(make_client(settings))


def _schema_is_current(settings: Settings) -> None:
    """Refuse to serve a database that lacks this release's migrations (SchemaNotCurrent, exit
    2 naming them): bookings would be accepted whose cases then fail on every activity. A
    PostgreSQL out of reach is not a refusal: /health says so until it answers."""
    import logging

    from psycopg import OperationalError

    from promptly.db import schema

    try:
        schema.require_current(settings.database_url)
    except OperationalError as err:
        logging.getLogger("promptly.api").warning(
            "cannot check the database schema, PostgreSQL out of reach: %s",
            " ".join(str(err).split()),
        )
