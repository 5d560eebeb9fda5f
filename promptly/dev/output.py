"""What `make run` shows: one ready block and warnings; the start-up noise goes to files."""

from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass
from pathlib import Path

from promptly.dev.local_env import ENV_FILE_VARIABLE, LOCAL_ENV

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def log_to_files(logs: Path) -> Path:
    """Every log record into `logs/promptly.log`; only warnings and errors on the terminal."""
    logs.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(logs / "promptly.log")
    to_file.setFormatter(logging.Formatter(LOG_FORMAT))
    to_terminal = logging.StreamHandler()
    to_terminal.setLevel(logging.WARNING)
    to_terminal.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(to_file)
    root.addHandler(to_terminal)
    # Library warnings at start-up (platformdirs, ...) are noise to a newcomer: file only.
    logging.captureWarnings(True)
    library_warnings = logging.getLogger("py.warnings")
    library_warnings.propagate = False
    library_warnings.addHandler(to_file)
    return logs


@dataclass(frozen=True)
class ReadyBlock:
    """The lines a newcomer needs once everything answers."""

    ui_port: int
    api_port: int
    key: str | None  # None: keys come from PROMPTLY_API_KEYS
    key_file: Path
    logs: Path
    env_file: Path  # the settings the other commands read
    codec_login: str | None = None  # where a codec session opens (None: payloads in clear)

    def text(self) -> str:
        api = f"http://localhost:{self.api_port}"
        if self.key is not None:
            # Quoted so it pastes as one word, whatever it starts with.
            key = f"'{self.key}'  (X-API-Key header; kept in {self.key_file})"
            header = f'"X-API-Key: $(cat {shlex.quote(str(self.key_file))})"'
        else:
            key = "from PROMPTLY_API_KEYS"
            header = '"X-API-Key: $KEY"'
        rows = [
            ("Temporal UI", f"http://localhost:{self.ui_port}"),
            ("API docs", f"{api}/docs"),
            ("API key", key),
            ("Dev mail", f".venv/bin/promptly outbox --follow   or   {api}/dev/outbox"),
            ("Client data", self._client_data()),
            ("Try", f"curl -s -H {header} '{api}/appointments?page_size=5'"),
            ("Demo", "make demo   (in another terminal)"),
            ("Logs", f"{self.logs}/"),
        ]
        if self.env_file.resolve() != LOCAL_ENV.resolve():  # not found by the CLI on its own
            reach = f"{ENV_FILE_VARIABLE}={shlex.quote(str(self.env_file))} .venv/bin/promptly list"
            rows.insert(-1, ("CLI", reach))
        width = max(len(label) for label, _ in rows)
        lines = [
            "",
            "Promptly is ready.",
            *(f"  {label:<{width}}  {value}" for label, value in rows),
        ]
        lines += ["Ctrl-C stops everything; cases survive a restart.", ""]
        return "\n".join(lines)

    def _client_data(self) -> str:
        if self.codec_login is None:
            return "NOT encrypted in Temporal (no codec keys)"
        key = "the API key above" if self.key is not None else "a compliance or admin key"
        return f"encrypted in Temporal; to read it in the UI, open {self.codec_login} with {key}"

    def show(self) -> None:
        print(self.text(), flush=True)
