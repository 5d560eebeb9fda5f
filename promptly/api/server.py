"""`promptly api`: the HTTP API in a process of its own (production, one per replica)."""

from __future__ import annotations

from pathlib import Path

import uvicorn


def serve(host: str, port: int, log_config: Path | None = None) -> None:
    """uvicorn on the app factory; returns when it stops (the caller ends the process).

    Access logs stay off: client-link paths carry their signed tokens.
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
        log_config=str(log_config) if log_config else uvicorn.config.LOGGING_CONFIG,
    )
