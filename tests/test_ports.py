"""A taken port stops `promptly dev` and `promptly api` at once, naming the port and the
process holding it, before anything starts; an operator's mistake or a server out of reach is
one line and an exit code, not a traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from promptly.dev.output import ReadyBlock
from promptly.dev.ports import port_holder, port_is_free
from promptly.dev.stack import links_to_this_api, this_temporal_ui
from tests.complaint_helpers import matrix
from tests.conftest import installed_binary


@contextmanager
def listening() -> Iterator[int]:
    """A port this test process listens on."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_the_holder_of_a_port_is_named_by_pid_and_command() -> None:
    with listening() as port:
        assert not port_is_free(port)
        holder = port_holder(port)
        assert holder is not None and holder.startswith(f"pid {os.getpid()} ")
        assert "python" in holder or "pytest" in holder
    assert port_is_free(port)


def _promptly(
    *args: str, cwd: Path, env: dict[str, str] | None = None, alone: bool = False
) -> subprocess.CompletedProcess[str]:
    """`promptly *args` with `env` over this machine's environment; `alone`: over none of its
    PROMPTLY_ or TEMPORAL_ variables, with HOME in `cwd` (nothing of a stack running here)."""
    base = dict(os.environ)
    if alone:
        base = {k: v for k, v in base.items() if not k.startswith(("PROMPTLY_", "TEMPORAL_"))}
        base["HOME"] = str(cwd)
    return subprocess.run(
        [installed_binary("promptly"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env=None if env is None and not alone else base | (env or {}),
    )


def _one_line(ended: subprocess.CompletedProcess[str]) -> str:
    """What a process that refused to start said: one line, never a traceback."""
    assert "Traceback" not in ended.stderr
    [line] = ended.stderr.strip().splitlines()
    return line


def test_a_second_dev_stack_stops_at_once_naming_the_taken_port(tmp_path: Path) -> None:
    ui_port, api_port = free_port(), free_port()
    with listening() as temporal_port:
        ended = _promptly(
            "dev",
            "--port",
            str(temporal_port),
            "--ui-port",
            str(ui_port),
            "--api-port",
            str(api_port),
            "--data",
            str(tmp_path / "data"),
            cwd=tmp_path,
        )
    assert ended.returncode == 1, ended.stderr
    message = " ".join(ended.stderr.split())
    assert f"port {temporal_port} (Temporal) is already in use by pid {os.getpid()}" in message
    assert message.endswith("or pick other ports (promptly dev --help)")
    assert "Traceback" not in ended.stderr and ended.stdout == ""
    assert not (tmp_path / "data" / "pg").exists()  # nothing started, nothing attached
    assert port_is_free(ui_port) and port_is_free(api_port)


def test_a_taken_twilio_fake_port_stops_the_dev_stack_before_anything_starts(
    tmp_path: Path,
) -> None:
    ports = [str(free_port()) for _ in range(3)]
    with listening() as sms_port:
        ended = _promptly(
            "dev",
            *("--port", ports[0], "--ui-port", ports[1], "--api-port", ports[2]),
            *("--sms-port", str(sms_port), "--data", str(tmp_path / "data")),
            cwd=tmp_path,
        )
    assert ended.returncode == 1, ended.stderr
    message = " ".join(ended.stderr.split())
    assert f"port {sms_port} (the Twilio fake) is already in use by pid {os.getpid()}" in message
    assert not (tmp_path / "data" / "pg").exists()


def test_the_api_alone_refuses_a_taken_port_in_one_sentence(tmp_path: Path) -> None:
    with listening() as port:
        ended = _promptly("api", "--port", str(port), cwd=tmp_path)
    assert ended.returncode == 1
    message = " ".join(ended.stderr.split())
    assert f"port {port} (the HTTP API) is already in use by pid {os.getpid()}" in message
    assert message.endswith("or pick other ports (promptly api --port)")
    assert "Traceback" not in ended.stderr


def test_the_dev_stack_on_another_api_port_links_to_that_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Client links, calendar feeds and `promptly sms reply` follow `--api-port`; a public URL
    set by hand (a tunnel) still wins."""
    monkeypatch.delenv("PROMPTLY_PUBLIC_BASE_URL", raising=False)
    env = links_to_this_api(18000)
    assert env == {"PROMPTLY_PUBLIC_BASE_URL": "http://localhost:18000"}
    monkeypatch.setenv("PROMPTLY_PUBLIC_BASE_URL", "https://abc.tunnel.example")
    assert links_to_this_api(18000) == {"PROMPTLY_PUBLIC_BASE_URL": "https://abc.tunnel.example"}


def test_the_dev_stack_on_another_ui_port_is_where_its_views_link(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`promptly dev --ui-port` writes its UI's address to the env file the other commands
    read: `promptly views` links there (the codec server admits that origin), `--ui` wins."""
    monkeypatch.delenv("PROMPTLY_CODEC_UI_ORIGIN", raising=False)
    assert this_temporal_ui(47434) == {
        "PROMPTLY_TEMPORAL_UI_URL": "http://localhost:47434",
        "PROMPTLY_CODEC_UI_ORIGIN": "http://localhost:47434",
    }
    monkeypatch.setenv("PROMPTLY_CODEC_UI_ORIGIN", "https://ui.example")
    assert this_temporal_ui(47434)["PROMPTLY_CODEC_UI_ORIGIN"] == "https://ui.example"

    (tmp_path / "env").write_text(
        f"PROMPTLY_TEMPORAL_UI_URL=http://localhost:47434\nPROMPTLY_LINK_SECRET={'y' * 48}\n"
    )
    stack = {"PROMPTLY_ENV_FILE": str(tmp_path / "env")}
    views = _promptly("views", cwd=tmp_path, env=stack, alone=True)
    assert views.returncode == 0, views.stderr
    links = [line.split()[-1] for line in views.stdout.splitlines() if "open:" in line]
    assert links and all(
        link.startswith("http://localhost:47434/namespaces/default/workflows?query=")
        for link in links
    ), views.stdout
    given = _promptly("views", "--ui", "http://ui:8080", cwd=tmp_path, env=stack, alone=True)
    assert "open:  http://ui:8080/namespaces/" in given.stdout and "47434" not in given.stdout
    default = _promptly("views", cwd=tmp_path, env={"PROMPTLY_LINK_SECRET": "y" * 48}, alone=True)
    assert "open:  http://localhost:8233/namespaces/" in default.stdout, default.stderr


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (("book", "missing.json"), {}, "No such file or directory: missing.json"),
        (("book", "."), {}, "Is a directory: ."),
        (("book", "latin2.json"), {}, "a file given is not UTF-8 text"),
        (("list",), {"PROMPTLY_API_KEYS": "{not json"}, "api_keys"),
        (("list",), {"PROMPTLY_OFFICE_TIMEZONE": "Europe"}, "unknown timezone"),
    ],
    ids=["missing-file", "a-folder", "not-utf8", "bad-json-setting", "zone-folder"],
)
def test_an_operators_mistake_is_one_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], said: str
) -> None:
    (tmp_path / "latin2.json").write_bytes(
        '{"service": "Zabieg dla pani Łucji"}'.encode("iso8859_2")
    )
    ended = _promptly(*args, cwd=tmp_path, env={"PROMPTLY_LINK_SECRET": "x" * 48, **env})
    assert ended.returncode == 2, ended.stderr
    assert "Traceback" not in ended.stderr
    assert said in ended.stderr and len(ended.stderr.strip().splitlines()) <= 2, ended.stderr


SECRET = {"PROMPTLY_LINK_SECRET": "x" * 48}
# What a worker or API started without codec keys needs to get past the refusal.
PLAINTEXT = {"PROMPTLY_PLAINTEXT_PAYLOADS": "true"}
NO_CODEC_KEYS = (
    "no codec keys: client data would reach Temporal unencrypted, so the worker and the API "
    "refuse to start; add keys with `promptly secrets generate --codec"
)


@pytest.mark.parametrize(
    ("args", "env", "code", "said"),
    [
        (("worker",), {}, 2, "PROMPTLY_LINK_SECRET is not set"),
        (("api", "--port", "{port}"), {}, 2, "PROMPTLY_LINK_SECRET is not set"),
        (("worker",), SECRET, 2, NO_CODEC_KEYS),
        (("api", "--port", "{port}"), SECRET, 2, NO_CODEC_KEYS),
        (
            ("worker",),
            SECRET
            | PLAINTEXT
            | {"PROMPTLY_DATABASE_URL": "postgresql://p@127.0.0.1:{port}/promptly"},
            1,
            "cannot reach PostgreSQL (PROMPTLY_DATABASE_URL): connection failed",
        ),
        (
            ("api", "--port", "{port}"),
            SECRET | PLAINTEXT | {"PROMPTLY_TEMPORAL_ADDRESS": "127.0.0.1:{port}"},
            1,
            "cannot reach Temporal (PROMPTLY_TEMPORAL_ADDRESS; locally, is `make run` going?)",
        ),
        (
            ("list",),
            SECRET | {"PROMPTLY_TEMPORAL_ADDRESS": "127.0.0.1:{port}"},
            1,
            "cannot reach Temporal (PROMPTLY_TEMPORAL_ADDRESS",
        ),
    ],
    ids=[
        "worker-no-secret",
        "api-no-secret",
        "worker-no-codec-keys",
        "api-no-codec-keys",
        "worker-no-db",
        "api-no-temporal",
        "cli-no-temporal",
    ],
)
def test_a_process_that_cannot_start_says_why_in_one_line(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], code: int, said: str
) -> None:
    port = str(free_port())  # nothing listens there
    given = {k: v.replace("{port}", port) for k, v in env.items()}
    ended = _promptly(
        *(a.replace("{port}", port) for a in args), cwd=tmp_path, env=given, alone=True
    )
    assert ended.returncode == code, ended.stderr
    line = _one_line(ended)
    assert line.startswith(f"promptly: {said}"), line


def test_the_cli_reaches_the_stack_whose_env_file_it_is_given(tmp_path: Path) -> None:
    """A second stack (`promptly dev --data DIR`) is reached with PROMPTLY_ENV_FILE=DIR/env."""
    port = free_port()
    other = tmp_path / "other"
    other.mkdir()
    (other / "env").write_text(
        f"PROMPTLY_TEMPORAL_ADDRESS=127.0.0.1:{port}\nPROMPTLY_LINK_SECRET={'y' * 48}\n"
    )
    ended = _promptly(
        "list", cwd=tmp_path, env={"PROMPTLY_ENV_FILE": str(other / "env")}, alone=True
    )
    assert ended.returncode == 1, ended.stderr
    assert f"127.0.0.1:{port}" in ended.stderr  # the address from that file, nowhere else

    missing = _promptly("list", cwd=tmp_path, env={"PROMPTLY_ENV_FILE": "nowhere/env"})
    assert missing.returncode == 2, missing.stderr
    assert missing.stderr.strip() == "promptly: No such file or directory: nowhere/env"


def test_a_stack_in_another_folder_says_how_the_cli_reaches_it() -> None:
    def block(data: Path) -> str:
        return ReadyBlock(
            ui_port=8233,
            api_port=8000,
            key="k",
            key_file=data / "api-key",
            logs=data / "logs",
            env_file=data / "env",
        ).text()

    assert "PROMPTLY_ENV_FILE" not in block(Path(".data"))  # found without being told
    assert "PROMPTLY_ENV_FILE=/tmp/second/env .venv/bin/promptly list" in block(Path("/tmp/second"))


@pytest.mark.parametrize("command", [("worker",), ("api", "--port", "{port}"), ("list",)])
@pytest.mark.parametrize(
    ("env", "said"),
    [
        (
            {"PROMPTLY_INQUIRY_ANSWER_WITHIN": "PT48H"},
            "refused settings: inquiry_supervisor_after must be longer than inquiry_answer_within",
        ),
        (
            {"PROMPTLY_ESCALATION_MATRIX": "matrix.json"},
            "refused setting PROMPTLY_ESCALATION_MATRIX: matrix.json:1: routes: no default route",
        ),
    ],
    ids=["inquiry-alerts-out-of-order", "bad-matrix"],
)
def test_a_bad_rule_is_refused_before_connecting_anywhere(
    tmp_path: Path, command: tuple[str, ...], env: dict[str, str], said: str
) -> None:
    """settings.md: exit 2 and one line, never a traceback; not after the worker migrated and
    reached Temporal (nothing listens at either address here: reaching for one would be exit 1)."""
    no_default_route = matrix(routes=[{"category": "billing", "department": "care"}])
    (tmp_path / "matrix.json").write_text(json.dumps(no_default_route))  # one line
    port = str(free_port())
    nowhere = {
        "PROMPTLY_TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "PROMPTLY_DATABASE_URL": f"postgresql://p@127.0.0.1:{port}/promptly",
    }
    ended = _promptly(
        *(a.replace("{port}", port) for a in command),
        cwd=tmp_path,
        env=SECRET | nowhere | env,
        alone=True,
    )
    assert ended.returncode == 2, ended.stderr
    line = _one_line(ended)
    assert line.startswith(f"promptly: {said}"), line
