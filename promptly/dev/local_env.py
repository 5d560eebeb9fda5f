"""Where `promptly dev` leaves its settings (addresses, secrets) for the other commands: the
CLI reads `./.data/env`, or the file PROMPTLY_ENV_FILE names (a stack started with
`promptly dev --data DIR` writes DIR/env)."""

from __future__ import annotations

from pathlib import Path

ENV_FILE_VARIABLE = "PROMPTLY_ENV_FILE"
LOCAL_ENV = Path(".data/env")
