"""Rotating the payload codec key without breaking running cases (docs/security.md).

Compose keeps the keys in the secrets dir's `codec-keys.json`. A key added through
`PROMPTLY_CODEC_KEYS` joins the file's keys instead of replacing them (so payloads written
under the old key still decrypt), one key id with two different keys stops the process, and
`promptly secrets codec --add` rotates the file itself."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from typer.testing import CliRunner

from promptly.cli.main import app
from promptly.cli.secrets import ensure_secrets
from promptly.codec import KEY_ID, EncryptionCodec
from promptly.config import CODEC_KEYS_FILE, Settings, settings_problems
from tests.helpers import promptly_process


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _codec(secrets_dir: Path) -> EncryptionCodec:
    codec = Settings(secrets_dir=secrets_dir).payload_codec()
    assert codec is not None
    return codec


PAYLOAD = Payload(metadata={"encoding": b"json/plain"}, data=b'{"email": "jan@example.com"}')


@pytest.fixture
def secrets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A secrets dir as compose's secrets step writes it, and no codec variables set."""
    for name in ("PROMPTLY_CODEC_KEYS", "PROMPTLY_CODEC_KEY_ID", "PROMPTLY_SECRETS_DIR"):
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "secrets"
    ensure_secrets(folder, codec=True)
    return folder


def test_a_key_added_by_variable_joins_the_files_keys(
    secrets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _codec(secrets_dir)
    written = old.encrypt(PAYLOAD)  # a running case's payload, under the file's key

    monkeypatch.setenv("PROMPTLY_CODEC_KEYS", json.dumps({"2099-01": _key()}))
    monkeypatch.setenv("PROMPTLY_CODEC_KEY_ID", "2099-01")
    rotated = _codec(secrets_dir)
    assert rotated.decrypt(written) == PAYLOAD  # the file's key still reads it
    assert rotated.encrypt(PAYLOAD).metadata[KEY_ID] == b"2099-01"  # the variable's id encrypts
    assert rotated.key_ids == sorted([old.current_key_id, "2099-01"])

    # Without PROMPTLY_CODEC_KEY_ID the file's `current` stays the encrypting key.
    monkeypatch.delenv("PROMPTLY_CODEC_KEY_ID")
    assert _codec(secrets_dir).current_key_id == old.current_key_id


def test_one_key_id_with_two_keys_is_refused_in_one_line_without_the_keys(
    secrets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = json.loads((secrets_dir / CODEC_KEYS_FILE).read_text())
    key_id = stored["current"]
    other = _key()
    monkeypatch.setenv("PROMPTLY_CODEC_KEYS", json.dumps({key_id: other}))
    with pytest.raises(ValidationError) as refusal:
        Settings(secrets_dir=secrets_dir)
    [line] = settings_problems(refusal.value)
    assert line.startswith(f"refused settings: codec key id(s) '{key_id}' have one key in ")
    assert "PROMPTLY_CODEC_KEYS" in line
    assert other not in line and stored["keys"][key_id] not in line

    # The same key under the same id in both places is no conflict.
    monkeypatch.setenv("PROMPTLY_CODEC_KEYS", json.dumps({key_id: stored["keys"][key_id]}))
    assert _codec(secrets_dir).key_ids == [key_id]


def test_the_worker_stops_with_exit_2_on_a_key_id_with_two_keys(secrets_dir: Path) -> None:
    key_id = json.loads((secrets_dir / CODEC_KEYS_FILE).read_text())["current"]
    other = _key()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTLY_CODEC")}
    env |= {
        "PROMPTLY_SECRETS_DIR": str(secrets_dir),
        "PROMPTLY_CODEC_KEYS": f'{{"{key_id}": "{other}"}}',
    }
    done = promptly_process("worker", env=env)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"promptly: refused settings: codec key id(s) '{key_id}' have one key")
    assert other not in done.stderr


def test_secrets_codec_add_rotates_the_file_and_old_payloads_still_decrypt(
    secrets_dir: Path,
) -> None:
    path = secrets_dir / CODEC_KEYS_FILE
    old = _codec(secrets_dir)
    written = old.encrypt(PAYLOAD)

    added = CliRunner().invoke(app, ["secrets", "codec", "--dir", str(secrets_dir), "--add"])
    assert added.exit_code == 0, added.output
    rotated = _codec(secrets_dir)
    new_id = rotated.current_key_id
    assert new_id != old.current_key_id
    assert added.stdout.splitlines() == [
        f"{path}: added codec key {new_id}, now current (restart worker and API)",
        *(
            f"{key_id}{'  (current)' if key_id == new_id else ''}"
            for key_id in sorted([old.current_key_id, new_id])
        ),
    ]
    stored = json.loads(path.read_text())
    assert not any(key in added.output for key in stored["keys"].values())  # ids only
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    assert rotated.decrypt(written) == PAYLOAD  # a running case's payload still reads
    assert rotated.encrypt(PAYLOAD).metadata[KEY_ID] == new_id.encode()  # new ones: new key
