"""Generated secrets: `make run` and the compose `secrets` step create them, nobody types them.

`ensure_secrets(folder)` writes what is missing, each file created with mode 0600 from its
first byte (never world-readable, not even for an instant): `link-secret` (the master secret,
promptly/domain/keys.py derives every signing key from it) and, with `codec=True`,
`codec-keys.json` (the AES key of the payload codec). Settings read them through
`PROMPTLY_SECRETS_DIR`. Existing files are kept: a restart must not change the keys.

    promptly secrets generate --dir /var/lib/promptly/secrets --codec
    promptly secrets codec --dir /var/lib/promptly/secrets --add    # rotate the codec key

`ensure_database_passwords(folder)` does the same for the PostgreSQL roles
(promptly/db/privileges.py): `<role>.password` and a libpq passfile `<role>.pgpass` for the
superuser, the schema owner, the application and Temporal. The folder is the one source: the
copies handed to the application (its passfile) and to Temporal are rewritten from it on every
run, so a rotation (`--rotate ROLE`) reaches them.

    promptly secrets database --dir /run/promptly-db --uid 10001 \
        --app-pgpass /var/lib/promptly/secrets/database.pgpass \
        --temporal-password /run/temporal-db/password --temporal-uid 1000
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

from promptly.config import CODEC_KEYS_FILE, LINK_SECRET_FILE, _private_file
from promptly.db.privileges import APP_ROLE, OWNER_ROLE, TEMPORAL_ROLE

SUPERUSER_ROLE = "postgres"
DATABASE_ROLES = (SUPERUSER_ROLE, OWNER_ROLE, APP_ROLE, TEMPORAL_ROLE)

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


def replace_private(path: Path, text: str, uid: int | None = None) -> bool:
    """Make `path` hold `text` (mode 0600, owned by `uid` when given), swapping a new file in
    atomically; False (untouched) when it holds it already."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        _own(path, uid)
        return False
    staged = path.with_name(f".{path.name}.new")
    staged.unlink(missing_ok=True)
    write_private(staged, text)
    _own(staged, uid)
    staged.replace(path)
    return True


def _own(path: Path, uid: int | None) -> None:
    if uid is not None:
        os.chown(path, uid, uid)


def pgpass_line(role: str, password: str) -> str:
    """A libpq passfile giving `role`'s password for any host, port and database."""
    return f"*:*:*:{role}:{password}\n"


def ensure_database_passwords(
    folder: Path, *, uid: int | None = None, rotate: tuple[str, ...] = ()
) -> dict[str, str]:
    """Every database role's password in `folder` (created when missing, replaced for the roles
    in `rotate`), with its passfile; returns the passwords by role."""
    unknown = sorted(set(rotate) - set(DATABASE_ROLES))
    if unknown:
        raise ValueError(f"unknown role(s) {', '.join(unknown)}: one of {DATABASE_ROLES}")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    _own(folder, uid)
    passwords = {}
    for role in DATABASE_ROLES:
        path = folder / f"{role}.password"
        # URL-safe: no ':' or '\\' to escape in a passfile, no quoting in a URL.
        fresh = secrets.token_urlsafe(32) + "\n"
        if role in rotate:
            replace_private(path, fresh, uid)
        elif not write_private(path, fresh):
            _private_file(path)  # refuses a file others may read
        _own(path, uid)
        passwords[role] = path.read_text(encoding="utf-8").strip()
        replace_private(folder / f"{role}.pgpass", pgpass_line(role, passwords[role]), uid)
    return passwords


def ensure_secrets(folder: Path, *, codec: bool = False, uid: int | None = None) -> list[str]:
    """The missing secret files of `folder`, created (owned by `uid` when given); returns the
    names it wrote."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    written = []
    if write_private(folder / LINK_SECRET_FILE, secrets.token_urlsafe(48) + "\n"):
        written.append(LINK_SECRET_FILE)
    if codec and write_private(folder / CODEC_KEYS_FILE, _codec_file(_new_codec_keys({}))):
        written.append(CODEC_KEYS_FILE)
    for path in (folder, folder / LINK_SECRET_FILE, folder / CODEC_KEYS_FILE):
        if path.exists():
            _own(path, uid)
    return written


def _new_codec_keys(keys: dict[str, str]) -> dict[str, object]:
    """`keys` and a new random AES-256 key under a new id, which becomes `current`."""
    key_id = f"{datetime.now(UTC):%Y-%m}-{secrets.token_hex(2)}"
    while key_id in keys:
        key_id = f"{datetime.now(UTC):%Y-%m}-{secrets.token_hex(2)}"
    return {"current": key_id, "keys": {**keys, key_id: base64.b64encode(os.urandom(32)).decode()}}


def _codec_file(stored: dict[str, object]) -> str:
    return json.dumps(stored, indent=1) + "\n"


def add_codec_key(folder: Path, *, uid: int | None = None) -> str:
    """A new codec key in `folder`'s codec-keys.json, made `current` (new payloads are
    encrypted with it); every key already there is kept to decrypt what it encrypted. The file
    is swapped in whole, mode 0600. Returns the new key id."""
    path = folder / CODEC_KEYS_FILE
    kept: dict[str, str] = json.loads(_private_file(path))["keys"] if path.exists() else {}
    stored = _new_codec_keys(kept)
    replace_private(path, _codec_file(stored), uid)
    return str(stored["current"])


@secrets_app.command("codec")
def codec_keys(
    folder: Annotated[Path, typer.Option("--dir", help="PROMPTLY_SECRETS_DIR.")],
    add: Annotated[
        bool,
        typer.Option(
            "--add", help="Add a new key and encrypt with it from now on; old keys are kept."
        ),
    ] = False,
    uid: Annotated[
        int | None, typer.Option(help="Owner of the file (when run as root for another user).")
    ] = None,
) -> None:
    """The payload codec's key ids in --dir (never the keys); --add rotates: restart the
    worker and the API afterwards."""
    path = folder / CODEC_KEYS_FILE
    if add:
        key_id = add_codec_key(folder, uid=uid)
        typer.echo(f"{path}: added codec key {key_id}, now current (restart worker and API)")
    if not path.exists():
        typer.secho(f"{path}: no codec keys (promptly secrets generate --codec)", err=True)
        raise typer.Exit(1)
    stored = json.loads(_private_file(path))
    for key_id in sorted(stored["keys"]):
        typer.echo(f"{key_id}{'  (current)' if key_id == stored['current'] else ''}")


@secrets_app.command("generate")
def generate(
    folder: Annotated[Path, typer.Option("--dir", help="Where to write (PROMPTLY_SECRETS_DIR).")],
    codec: Annotated[
        bool, typer.Option(help="Also a payload codec key (encryption of client data).")
    ] = False,
    uid: Annotated[
        int | None, typer.Option(help="Owner of the files (when run as root for another user).")
    ] = None,
) -> None:
    """Create the missing secrets in --dir (mode 0600); existing ones are kept."""
    written = ensure_secrets(folder, codec=codec, uid=uid)
    typer.echo(f"{folder}: " + (f"created {', '.join(written)}" if written else "all present"))


@secrets_app.command("database")
def database(
    folder: Annotated[
        Path, typer.Option("--dir", help="Where every role's password and passfile live.")
    ],
    uid: Annotated[
        int | None, typer.Option(help="Owner of the files in --dir (the db-setup step's user).")
    ] = None,
    app_pgpass: Annotated[
        Path | None, typer.Option(help="Also write the application role's passfile here.")
    ] = None,
    app_uid: Annotated[int | None, typer.Option(help="Owner of --app-pgpass.")] = None,
    temporal_password: Annotated[
        Path | None, typer.Option(help="Also write Temporal's password here.")
    ] = None,
    temporal_uid: Annotated[int | None, typer.Option(help="Owner of --temporal-password.")] = None,
    rotate: Annotated[
        list[str] | None,
        typer.Option(help=f"Replace this role's password ({', '.join(DATABASE_ROLES)})."),
    ] = None,
) -> None:
    """Create the missing database passwords (mode 0600); existing ones are kept unless rotated.
    Apply them to PostgreSQL with `promptly db roles`."""
    passwords = ensure_database_passwords(folder, uid=uid, rotate=tuple(rotate or ()))
    if app_pgpass is not None:
        replace_private(app_pgpass, pgpass_line(APP_ROLE, passwords[APP_ROLE]), app_uid)
    if temporal_password is not None:
        replace_private(temporal_password, passwords[TEMPORAL_ROLE] + "\n", temporal_uid)
    typer.echo(f"{folder}: passwords of {', '.join(DATABASE_ROLES)} present")
