"""No known secret: each attack on the signing keys, tried and refused.

The master secret has no default and no published value passes; every purpose signs with its
own HKDF-derived key; a rotation keeps the previous key for its grace period only; generated
secret files are private from their first byte; tokens with any bytes never crash a check.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from promptly.api import case_lists
from promptly.cli.secrets import ensure_secrets, write_private
from promptly.config import MissingSecret, Settings, settings_problems
from promptly.domain import feed_tokens, keys, links, webhooks
from promptly.services.errors import ServiceError

NOW = datetime(2031, 3, 1, 9, 30, tzinfo=UTC)
SECRET = "k" * 16 + secrets.token_urlsafe(32)
NEW_SECRET = secrets.token_urlsafe(48)
ENV_EXAMPLE = Path(__file__).parent.parent / ".env.example"


@pytest.fixture
def no_secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process environment without the secret the test suite sets for itself; what a test
    sets there (`dev_secrets` sets PROMPTLY_SECRETS_DIR) is undone after it."""
    for name in ("PROMPTLY_LINK_SECRET", "PROMPTLY_SECRETS_DIR"):
        monkeypatch.setenv(name, "")  # recorded, so restored (or unset) after the test
        monkeypatch.delenv(name)


def _claims(action: str = "confirm") -> links.LinkClaims:
    return links.LinkClaims(
        case_id="appointment-A-1", action=action, expires_at=NOW + timedelta(days=14)
    )


# --- no default, no short or published secret ----------------------------------------------


def test_without_a_secret_the_worker_and_the_api_refuse_to_start(no_secret_env: None) -> None:
    from promptly.api.app import create_app
    from promptly.worker import create_worker

    bare = Settings()
    assert bare.link_secret is None  # no default value anywhere
    with pytest.raises(MissingSecret, match="PROMPTLY_LINK_SECRET is not set"):
        create_app(bare)
    with pytest.raises(MissingSecret):
        create_worker(object(), bare)  # type: ignore[arg-type]  # refuses before using it


def test_a_short_secret_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(link_secret="s3cr3t-but-only-31-bytes-long!!")
    assert "at least 32 bytes" in str(refused.value)
    assert "s3cr3t" not in str(refused.value)


def test_a_short_inbound_email_token_stops_the_process_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The token is all that guards the email-reply route: "a" would be guessed at once."""
    weak = {
        "Zq": "at least 32 bytes",
        "s3cr3t-token-0123456789": "at least 32 bytes",
        "change-me" * 4: "published example value",
    }
    for token, why in weak.items():
        monkeypatch.setenv("PROMPTLY_INBOUND_EMAIL_TOKEN", token)
        with pytest.raises(ValidationError) as refused:
            Settings()
        [problem] = settings_problems(refused.value)
        assert problem.startswith("refused setting PROMPTLY_INBOUND_EMAIL_TOKEN: ")
        assert why in problem and token not in problem
    strong = secrets.token_hex(32)
    monkeypatch.setenv("PROMPTLY_INBOUND_EMAIL_TOKEN", strong)
    accepted = Settings().inbound_email_token
    assert accepted is not None and accepted.get_secret_value() == strong


def test_every_value_published_in_env_example_is_refused() -> None:
    published = [
        line.split("=", 1)[1]
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.lstrip("# ").startswith("PROMPTLY_LINK_SECRET")
        and "=" in line
        and line.split("=", 1)[1]
    ]
    # The old default and the example value, padded to the length check or not: all refused.
    known = ["dev-only-link-secret-change-me", "change-me-to-a-long-random-string"]
    for value in [*published, *known]:
        for candidate in (value, value * 3):
            with pytest.raises(ValidationError):
                Settings(link_secret=candidate)


def test_previous_secret_needs_the_end_of_its_grace_period() -> None:
    with pytest.raises(ValidationError, match="link_secret_previous_until"):
        Settings(link_secret=NEW_SECRET, link_secret_previous=SECRET)


# --- one key per purpose ----------------------------------------------------------------------


def test_hkdf_matches_rfc_5869_and_the_cryptography_package() -> None:
    # RFC 5869 test case 1.
    ikm = bytes.fromhex("0b" * 22)
    salt = bytes.fromhex("000102030405060708090a0b0c")
    info = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9")
    okm = keys.hkdf_sha256(ikm, info, 42, salt)
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )
    reference = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"promptly/v1", info=b"purpose:x")
    assert keys.derive_key(SECRET, "x") == reference.derive(SECRET.encode())


def test_a_client_link_never_passes_for_a_codec_session_or_a_page_token() -> None:
    derived = {purpose: keys.derive_key(SECRET, purpose) for purpose in keys.PURPOSES}
    assert len(set(derived.values())) == len(keys.PURPOSES)
    assert SECRET.encode() not in derived.values()
    link = links.sign(keys.Keyring.of(keys.LINKS, SECRET), _claims())
    with pytest.raises(links.InvalidLink):
        links.verify(keys.Keyring.of(keys.CODEC_SESSIONS, SECRET), link, NOW)
    # A link token offered as a list's page token is not one either.
    with pytest.raises(ServiceError) as refused:
        case_lists.decode_token(keys.Keyring.of(keys.PAGE_TOKENS, SECRET), "q", link)
    assert refused.value.status == 422


def test_a_link_signed_with_the_old_default_secret_is_refused() -> None:
    old_default = "dev-only-link-secret-change-me"
    payload = links._b64(b'{"c":"appointment-A-1","a":"cancel","e":9999999999}')
    mac = hmac.new(old_default.encode(), payload.encode(), hashlib.sha256).digest()
    forged = f"{payload}.{links._b64(mac)}"
    with pytest.raises(links.InvalidLink):
        links.verify(Settings(link_secret=SECRET).keyring(keys.LINKS), forged, NOW)
    # Even one in today's format, with a key id, signed by someone who knows only that value.
    forged_new = links.sign(keys.Keyring.of(keys.LINKS, old_default), _claims("cancel"))
    with pytest.raises(links.InvalidLink):
        links.verify(Settings(link_secret=SECRET).keyring(keys.LINKS), forged_new, NOW)


# --- rotation ---------------------------------------------------------------------------------


def test_rotation_keeps_earlier_links_for_the_grace_period_only() -> None:
    before = links.sign(Settings(link_secret=SECRET).keyring(keys.LINKS), _claims())
    grace_end = NOW + timedelta(days=14)
    rotated = Settings(
        link_secret=NEW_SECRET, link_secret_previous=SECRET, link_secret_previous_until=grace_end
    ).keyring(keys.LINKS)
    assert links.verify(rotated, before, NOW).action == "confirm"
    after = links.sign(rotated, _claims())
    assert after.split(".")[0] != before.split(".")[0]  # new tokens name the new key id
    with pytest.raises(links.InvalidLink):  # after the grace period: refused
        links.verify(rotated, before, grace_end)
    with pytest.raises(links.InvalidLink):  # and once the previous secret is removed
        links.verify(Settings(link_secret=NEW_SECRET).keyring(keys.LINKS), before, NOW)
    assert links.verify(rotated, after, grace_end - timedelta(seconds=1)).action == "confirm"


def test_a_calendar_feed_token_survives_the_rotation_for_its_grace_period_only() -> None:
    """Feed tokens name no key id: each key the keyring still accepts is tried."""
    before = feed_tokens.feed_token(feed_tokens.feed_key(SECRET), "P-1", 1)
    grace_end = NOW + timedelta(days=14)
    rotated = Settings(
        link_secret=NEW_SECRET, link_secret_previous=SECRET, link_secret_previous_until=grace_end
    ).keyring(keys.CALENDAR_FEEDS)
    assert feed_tokens.token_matches(rotated, "P-1", 1, before, NOW)
    assert not feed_tokens.token_matches(rotated, "P-1", 1, before, grace_end)
    assert not feed_tokens.token_matches(rotated, "P-2", 1, before, NOW)  # another provider's
    link_keys = Settings(link_secret=SECRET).keyring(keys.LINKS)  # another purpose's key
    assert not feed_tokens.token_matches(link_keys, "P-1", 1, before, NOW)
    assert not feed_tokens.token_matches(rotated, "P-1", 1, "é" + before[1:], NOW)


def test_an_expired_link_is_told_apart_from_a_forged_one() -> None:
    keyring = keys.Keyring.of(keys.LINKS, SECRET)
    token = links.sign(keyring, _claims())
    with pytest.raises(links.ExpiredLink):
        links.verify(keyring, token, NOW + timedelta(days=15))
    payload, _, mac = token.partition(".")
    tampered = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + mac
    with pytest.raises(links.InvalidLink) as refused:
        links.verify(keyring, tampered, NOW)
    assert not isinstance(refused.value, links.ExpiredLink)


# --- secrets generated into .data/ ---------------------------------------------------------


def test_generated_secrets_are_private_from_the_first_byte(
    tmp_path: Path, no_secret_env: None
) -> None:
    folder = tmp_path / "secrets"
    seen_modes: list[int] = []
    real_fdopen = os.fdopen

    def watching_fdopen(fd: int, *args: object, **kwargs: object) -> object:
        seen_modes.append(stat.S_IMODE(os.fstat(fd).st_mode))  # before a byte is written
        return real_fdopen(fd, *args, **kwargs)  # type: ignore[call-overload]

    os.fdopen = watching_fdopen  # type: ignore[assignment]
    try:
        written = ensure_secrets(folder, codec=True)
    finally:
        os.fdopen = real_fdopen
    assert written == ["link-secret", "codec-keys.json"]
    assert seen_modes == [0o600, 0o600]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    first = (folder / "link-secret").read_text()
    assert ensure_secrets(folder, codec=True) == []  # a restart keeps the keys
    assert (folder / "link-secret").read_text() == first
    loaded = Settings(secrets_dir=folder)
    assert loaded.master_secret() == first.strip() and len(first.strip()) >= 64
    assert loaded.payload_codec() is not None  # the generated codec key is usable
    other = ensure_secrets(tmp_path / "elsewhere")
    assert other == ["link-secret"]
    assert (tmp_path / "elsewhere" / "link-secret").read_text() != first


def test_a_secret_file_others_can_read_is_refused(tmp_path: Path, no_secret_env: None) -> None:
    ensure_secrets(tmp_path)
    (tmp_path / "link-secret").chmod(0o644)
    with pytest.raises(ValidationError, match="readable by others"):
        Settings(secrets_dir=tmp_path)


def test_write_private_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "api-key"
    assert write_private(path, "one\n")
    assert not write_private(path, "two\n")
    assert path.read_text() == "one\n"


def test_make_run_generates_the_secret_the_other_commands_find(
    tmp_path: Path, no_secret_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from promptly.dev.stack import dev_api_key, dev_secrets

    monkeypatch.setenv("PROMPTLY_API_KEYS", "")  # dev_api_key sets it: restored after the test
    monkeypatch.delenv("PROMPTLY_API_KEYS")
    line = dev_secrets(tmp_path)
    folder = (tmp_path / "secrets").resolve()
    assert line == f"PROMPTLY_SECRETS_DIR={folder}\n"
    assert os.environ["PROMPTLY_SECRETS_DIR"] == str(folder)
    env_file = tmp_path / "env"
    env_file.write_text(line)
    found = Settings(_env_file=env_file).master_secret()  # what `promptly demo` reads
    assert found == (folder / "link-secret").read_text().strip()
    # A codec key too, as compose's secrets step makes: the dev stack encrypts client data.
    assert stat.S_IMODE((folder / "codec-keys.json").stat().st_mode) == 0o600
    assert Settings(_env_file=env_file).payload_codec() is not None
    key = dev_api_key(tmp_path)
    assert key and stat.S_IMODE((tmp_path / "api-key").stat().st_mode) == 0o600


def test_make_run_keeps_the_twilio_token_and_its_env_private_from_the_first_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/security.md: generated secrets are never written then chmod-ed. `.data/env` holds
    the Twilio fake's token, so it is no exception, on each run."""
    from promptly.dev.stack import twilio_fake, write_env

    for name in ("ACCOUNT_SID", "AUTH_TOKEN", "FROM", "BASE_URL"):
        monkeypatch.setenv(f"PROMPTLY_TWILIO_{name}", "")  # restored (unset) after the test
        monkeypatch.delenv(f"PROMPTLY_TWILIO_{name}")
    seen_modes: list[int] = []
    real_fdopen = os.fdopen

    def watching_fdopen(fd: int, *args: object, **kwargs: object) -> object:
        seen_modes.append(stat.S_IMODE(os.fstat(fd).st_mode))  # before a byte is written
        return real_fdopen(fd, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(os, "fdopen", watching_fdopen)
    with twilio_fake(tmp_path, port=0) as env:
        token = env["PROMPTLY_TWILIO_AUTH_TOKEN"]
        lines = "".join(f"{name}={value}\n" for name, value in env.items())
    first = write_env(tmp_path, lines)
    again = write_env(tmp_path, lines + "PROMPTLY_SECRETS_DIR=/elsewhere\n")  # the next run
    monkeypatch.setattr(os, "fdopen", real_fdopen)

    assert seen_modes == [0o600, 0o600, 0o600]  # the token, then .data/env twice
    assert (tmp_path / "twilio-token").read_text().strip() == token
    assert first == again == tmp_path / "env"
    assert f"PROMPTLY_TWILIO_AUTH_TOKEN={token}\n" in again.read_text()
    assert again.read_text().endswith("PROMPTLY_SECRETS_DIR=/elsewhere\n")
    for path in (tmp_path / "twilio-token", again):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


# --- tokens with any bytes: refused cleanly, never a crash -------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_as_a_link_token_is_refused_cleanly(token: str) -> None:
    keyring = keys.Keyring.of(keys.LINKS, SECRET)
    with pytest.raises(links.InvalidLink):
        links.verify(keyring, token, NOW)
    with pytest.raises(links.InvalidLink):  # with a well-formed head and a foreign tail
        links.verify(keyring, links.sign(keyring, _claims()).split(".")[0] + "." + token, NOW)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_as_a_page_token_is_a_422(token: str) -> None:
    keyring = keys.Keyring.of(keys.PAGE_TOKENS, SECRET)
    if not token:
        return
    with pytest.raises(ServiceError) as refused:
        case_lists.decode_token(keyring, "WorkflowType = 'X'", token)
    assert refused.value.status == 422


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_any_webhook_signature_header_is_refused_cleanly(header: str) -> None:
    signed = f"t={int(NOW.timestamp())},v1={header}"
    assert not webhooks.verify_signature(SECRET, signed, b"{}", NOW)
