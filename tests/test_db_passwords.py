"""`promptly secrets database`: the compose step that generates one password per database role.

Run through the real CLI, as compose runs it (without root, so no chown): every file private
from its first byte, the same password in the role's folder and in the copies handed to the
app and to Temporal, kept on reruns, replaced for the rotated role only.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from promptly.cli.main import app
from promptly.cli.secrets import DATABASE_ROLES, ensure_database_passwords

runner = CliRunner()


def generate(tmp_path: Path, *extra: str) -> dict[str, str]:
    result = runner.invoke(
        app,
        [
            "secrets",
            "database",
            "--dir",
            str(tmp_path / "db"),
            "--app-pgpass",
            str(tmp_path / "app" / "database.pgpass"),
            "--temporal-password",
            str(tmp_path / "temporal" / "password"),
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    return {
        role: (tmp_path / "db" / f"{role}.password").read_text().strip() for role in DATABASE_ROLES
    }


@pytest.fixture
def folders(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "temporal").mkdir()
    return tmp_path


def test_every_role_gets_a_random_private_password_and_its_consumers_a_copy(
    folders: Path,
) -> None:
    passwords = generate(folders)
    assert set(passwords) == {"postgres", "promptly_owner", "promptly_app", "temporal"}
    assert len(set(passwords.values())) == 4
    assert all(len(p) >= 40 and ":" not in p and "\\" not in p for p in passwords.values())
    files = list((folders / "db").iterdir()) + [
        folders / "app" / "database.pgpass",
        folders / "temporal" / "password",
    ]
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((folders / "db").stat().st_mode) == 0o700
    app_pgpass = (folders / "app" / "database.pgpass").read_text()
    assert app_pgpass == f"*:*:*:promptly_app:{passwords['promptly_app']}\n"
    assert (folders / "temporal" / "password").read_text().strip() == passwords["temporal"]
    owner_pgpass = (folders / "db" / "promptly_owner.pgpass").read_text()
    assert owner_pgpass == f"*:*:*:promptly_owner:{passwords['promptly_owner']}\n"
    # The app's copy names its own role only: it holds no other role's password.
    for role in ("postgres", "promptly_owner", "temporal"):
        assert passwords[role] not in app_pgpass


def test_a_rerun_keeps_the_passwords_and_a_rotation_replaces_one(folders: Path) -> None:
    first = generate(folders)
    assert generate(folders) == first
    rotated = generate(folders, "--rotate", "promptly_app")
    assert rotated["promptly_app"] != first["promptly_app"]
    assert {r: p for r, p in rotated.items() if r != "promptly_app"} == {
        r: p for r, p in first.items() if r != "promptly_app"
    }
    # The app's passfile follows the rotation; libpq reads it at every new connection.
    assert rotated["promptly_app"] in (folders / "app" / "database.pgpass").read_text()
    assert not list((folders / "db").glob(".*.new"))


def test_a_password_file_others_may_read_is_refused(folders: Path) -> None:
    generate(folders)
    (folders / "db" / "promptly_app.password").chmod(0o644)
    with pytest.raises(ValueError, match="readable by others"):
        ensure_database_passwords(folders / "db")


def test_an_unknown_role_cannot_be_rotated(folders: Path) -> None:
    with pytest.raises(ValueError, match="unknown role"):
        ensure_database_passwords(folders / "db", rotate=("admin",))
