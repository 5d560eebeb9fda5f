"""`promptly api`: the HTTP API in a process of its own (production, one per replica)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import uvicorn

from promptly.config import Settings
from promptly.observability import formatter_for


def default_log_config(settings: Settings) -> dict[str, Any]:
    """uvicorn's own logging, and the app's records (a compliance read is one) to stderr at
    PROMPTLY_LOG_LEVEL, formatted as PROMPTLY_LOG_FORMAT says, as the worker's are."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["formatters"]["promptly"] = {"()": formatter_for(settings)}
    config["handlers"]["promptly"] = {
        "class": "logging.StreamHandler",
        "formatter": "promptly",
        "stream": "ext://sys.stderr",
    }
    config["root"] = {"handlers": ["promptly"], "level": settings.log_level}
    return config


def serve(host: str, port: int, log_config: Path | None = None) -> None:
    """uvicorn on the app factory; returns when it stops (the caller ends the process).

    Access logs stay off: client-link paths carry their signed tokens. Without a logging
    config the app's records still go out (`default_log_config`).
    """
    from promptly.dev.ports import refuse_taken_ports

    refuse_taken_ports({port: "the HTTP API"}, host=host)
    uvicorn.run(
        "promptly.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        access_log=False,
        proxy_headers=True,
        log_config=str(log_config) if log_config else default_log_config(Settings()),
    )
