"""Generated secrets: `make run` and the compose setup step create them, nobody types them.

`ensure_secrets(folder)` writes what is missing, each file created with mode 0600 from its
first byte (never world-readable, not even for an instant): `link-secret` (the master secret,
promptly/domain/keys.py derives every signing key from it) and, with `codec=True`,
`codec-keys.json` (the AES key of the payload codec). Settings read them through
`PROMPTLY_SECRETS_DIR`. Existing files are kept: a restart must not change the keys.

    promptly secrets generate --dir /var/lib/promptly/secrets --codec
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from promptly.config import CODEC_KEYS_FILE, LINK_SECRET_FILE

secrets_app = typer.Typer(help="Generated secrets (PROMPTLY_SECRETS_DIR).", no_args_is_help=True)


def write_private(path: Path, text: str) -> bool:
    """Create `path` with mode 0600 and `text`; False (untouched) when it exists already."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
    return True


def ensure_secrets(folder: Path, *, codec: bool = False) -> list[str]:
    """The missing secret files of `folder`, created; returns the names it wrote."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    written = []
    if write_private(folder / LINK_SECRET_FILE, secrets.token_urlsafe(48) + "\n"):
        written.append(LINK_SECRET_FILE)
    if codec:
        key_id = f"{datetime.now(UTC):%Y-%m}-{secrets.token_hex(2)}"
        stored = {"current": key_id, "keys": {key_id: base64.b64encode(os.urandom(32)).decode()}}
        if write_private(folder / CODEC_KEYS_FILE, json.dumps(stored, indent=1) + "\n"):
            written.append(CODEC_KEYS_FILE)
    return written


@secrets_app.command("generate")
def generate(
    folder: Annotated[Path, typer.Option("--dir", help="Where to write (PROMPTLY_SECRETS_DIR).")],
    codec: Annotated[
        bool, typer.Option(help="Also a payload codec key (encryption of client data).")
    ] = False,
) -> None:
    """Create the missing secrets in --dir (mode 0600); existing ones are kept."""
    written = ensure_secrets(folder, codec=codec)
    typer.echo(f"{folder}: " + (f"created {', '.join(written)}" if written else "all present"))
