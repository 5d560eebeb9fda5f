"""The payload codec (AES-GCM, key id in the metadata, rotation) and the codec server.

The last tests run a real appointment with the codec on (a time-skipping server of this
module's own) and look for the client's email and phone in the raw stored history.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr, ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from promptly.api.auth import ApiKeys, hash_key
from promptly.api.codec import codec_router
from promptly.api.limits import RateLimits
from promptly.codec import ENCODING, KEY_ID, CodecKeyError, EncryptionCodec
from promptly.config import ApiKey, ApiRole, Settings
from promptly.services.appointments import book
from promptly.services.setup import register_search_attributes
from promptly.worker import WORKFLOWS, create_worker, data_converter, workflow_runner
from promptly.workflows.appointment import AppointmentWorkflow
from tests.conftest import installed_binary
from tests.helpers import appointment, end_workflows
from tests.record_histories import HISTORIES, load

EMAIL = b"anna@example.com"
PHONE = b"+48600100200"


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def codec_settings(keys: dict[str, str], current: str, **extra: str) -> Settings:
    return Settings.model_validate(
        {"codec_keys": {k: SecretStr(v) for k, v in keys.items()}, "codec_key_id": current} | extra
    )


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode())


# --- the codec ------------------------------------------------------------------------------


async def test_round_trip_hides_the_data_and_names_the_key() -> None:
    codec = EncryptionCodec({"2026-11": os.urandom(32)}, "2026-11")
    original = [plain("anna@example.com"), plain("+48600100200")]
    [first, second] = await codec.encode(original)
    for sealed in (first, second):
        assert sealed.metadata["encoding"] == ENCODING
        assert sealed.metadata[KEY_ID] == b"2026-11"
        assert EMAIL not in sealed.SerializeToString()
    assert first.data[:12] != second.data[:12]  # a fresh nonce per payload
    assert await codec.decode([first, second]) == original


async def test_payloads_it_did_not_encode_pass_through() -> None:
    codec = EncryptionCodec({"k": os.urandom(16)}, "k")
    untouched = [plain("written before the codec"), Payload(metadata={"encoding": b"binary/null"})]
    assert await codec.decode(untouched) == untouched


async def test_wrong_key_and_unknown_key_are_refused_clearly() -> None:
    sealed = await EncryptionCodec({"k1": os.urandom(32)}, "k1").encode([plain("secret")])
    with pytest.raises(CodecKeyError, match="'k1' does not decrypt"):
        await EncryptionCodec({"k1": os.urandom(32)}, "k1").decode(sealed)
    with pytest.raises(CodecKeyError, match=r"codec key 'k1', which this process does not have"):
        await EncryptionCodec({"k2": os.urandom(32)}, "k2").decode(sealed)
    # The key id is authenticated: relabelling a ciphertext does not get it decrypted.
    key = os.urandom(32)
    relabelled = Payload()
    relabelled.CopyFrom((await EncryptionCodec({"a": key}, "a").encode([plain("x")]))[0])
    relabelled.metadata[KEY_ID] = b"b"
    with pytest.raises(CodecKeyError, match="does not decrypt"):
        await EncryptionCodec({"a": key, "b": key}, "a").decode([relabelled])


async def test_rotation_encrypts_with_the_new_key_and_still_reads_the_old() -> None:
    old, new = os.urandom(32), os.urandom(32)
    before = await EncryptionCodec({"2026-05": old}, "2026-05").encode([plain("old payload")])
    rotated = EncryptionCodec({"2026-05": old, "2026-11": new}, "2026-11")
    [after] = await rotated.encode([plain("new payload")])
    assert after.metadata[KEY_ID] == b"2026-11"
    assert await rotated.decode([*before, after]) == [plain("old payload"), plain("new payload")]
    retired = EncryptionCodec({"2026-11": new}, "2026-11")
    with pytest.raises(CodecKeyError, match="'2026-05'"):
        await retired.decode(before)


@pytest.fixture
def no_codec_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings() without codec keys, whatever the environment running the tests sets."""
    monkeypatch.delenv("PROMPTLY_CODEC_KEYS", raising=False)
    monkeypatch.delenv("PROMPTLY_CODEC_KEY_ID", raising=False)


def test_settings_refuse_unusable_keys(no_codec_env: None) -> None:
    with pytest.raises(ValidationError, match="not valid base64"):
        codec_settings({"k": "not base64!"}, "k")
    with pytest.raises(ValidationError, match="must be 16, 24 or 32 bytes"):
        codec_settings({"k": base64.b64encode(b"short").decode()}, "k")
    with pytest.raises(ValidationError, match="codec_key_id must name one of codec_keys"):
        codec_settings({"k": new_key()}, "other")
    with pytest.raises(ValidationError, match="codec_keys is empty"):
        Settings(codec_key_id="k")


def test_converter_is_unchanged_without_keys_and_encrypts_with_them(no_codec_env: None) -> None:
    assert data_converter(Settings()) is pydantic_data_converter
    converter = data_converter(codec_settings({"k": new_key()}, "k"))
    assert isinstance(converter.payload_codec, EncryptionCodec)
    assert isinstance(converter.failure_converter, DefaultFailureConverterWithEncodedAttributes)
    assert converter.payload_converter_class is pydantic_data_converter.payload_converter_class


# --- the codec server -----------------------------------------------------------------------

UI = "http://localhost:8233"
KEYS = {role: f"{role.value}-key-{uuid.uuid4().hex[:6]}" for role in ApiRole}


@pytest.fixture
def codec_app() -> FastAPI:
    settings = codec_settings({"k": base64.b64encode(b"0" * 32).decode()}, "k")
    app = FastAPI()
    app.state.api_keys = ApiKeys(
        {role.value: ApiKey(key_sha256=hash_key(key), role=role) for role, key in KEYS.items()}
    )
    app.state.limits = RateLimits(settings)
    app.include_router(codec_router(settings))
    return app


@pytest_asyncio.fixture(loop_scope="session")
async def http(codec_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=codec_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


def as_json(payloads: list[Payload]) -> dict[str, object]:
    return {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                "data": base64.b64encode(p.data).decode(),
            }
            for p in payloads
        ]
    }


async def test_codec_server_encodes_for_admin_and_decodes_for_compliance(
    http: httpx.AsyncClient,
) -> None:
    headers = {"X-API-Key": KEYS[ApiRole.ADMIN], "Origin": UI, "X-Namespace": "default"}
    original = as_json([plain("anna@example.com")])
    encoded = await http.post("/codec/encode", json=original, headers=headers)
    assert encoded.status_code == 200, encoded.text
    assert encoded.headers["access-control-allow-origin"] == UI
    [sealed] = encoded.json()["payloads"]
    assert base64.b64decode(sealed["metadata"]["encoding"]) == ENCODING
    assert b"anna" not in base64.b64decode(sealed["data"])

    # The UI may send the key as a bearer token (its "pass access token" setting).
    bearer = {"Authorization": f"Bearer {KEYS[ApiRole.COMPLIANCE]}", "Origin": UI}
    decoded = await http.post("/codec/decode", json=encoded.json(), headers=bearer)
    assert decoded.status_code == 200, decoded.text
    assert decoded.json() == original


async def test_each_codec_call_logs_who_how_many_and_where_never_the_data(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Decrypting client data leaves a trace, as a history read does ("history of … read by
    …"): the key's name, decoded or encoded, the count and the namespace."""
    admin = {"X-API-Key": KEYS[ApiRole.ADMIN], "X-Namespace": "default"}
    compliance = {"X-API-Key": KEYS[ApiRole.COMPLIANCE], "X-Namespace": "default"}
    with caplog.at_level(logging.INFO, logger="promptly.api"):
        sealed = await http.post(
            "/codec/encode", json=as_json([plain("Anna Nowak"), plain("HIV")]), headers=admin
        )
        decoded = await http.post("/codec/decode", json=sealed.json(), headers=compliance)
        refused = await http.post("/codec/decode", json=sealed.json(), headers={"Origin": UI})
    assert decoded.status_code == 200 and refused.status_code == 401
    lines = [
        (r.name, r.levelno, r.getMessage()) for r in caplog.records if r.name.startswith("promptly")
    ]
    assert lines == [
        (
            "promptly.api.codec",
            logging.INFO,
            f"2 payload(s) encoded by {ApiRole.ADMIN.value} (namespace 'default', API key)",
        ),
        (
            "promptly.api.codec",
            logging.INFO,
            f"2 payload(s) decoded by {ApiRole.COMPLIANCE.value} (namespace 'default', API key)",
        ),
    ]
    assert "Anna" not in caplog.text and "HIV" not in caplog.text


async def test_a_compliance_reader_cannot_encode_input_for_the_workflows(
    http: httpx.AsyncClient,
) -> None:
    """Compliance reads and changes nothing: in strict mode an encoded payload is an update
    or signal the worker accepts, so encoding is admin's alone, by key or by session."""
    original = as_json([plain('{"reason": "cancelled by compliance"}')])
    by_key = {"X-API-Key": KEYS[ApiRole.COMPLIANCE], "Origin": UI}
    refused = await http.post("/codec/encode", json=original, headers=by_key)
    assert refused.status_code == 403, refused.text
    assert "may only decode" in refused.json()["reason"]
    assert refused.headers["access-control-allow-origin"] == UI  # the UI can show why
    opened = await http.post("/codec/login", data={"key": KEYS[ApiRole.COMPLIANCE]})
    assert opened.status_code == 200
    by_session = await http.post("/codec/encode", json=original, headers={"Origin": UI})
    assert by_session.status_code == 403, by_session.text
    http.cookies.clear()

    sealed = await http.post(
        "/codec/encode", json=original, headers={"X-API-Key": KEYS[ApiRole.ADMIN]}
    )
    assert sealed.status_code == 200, sealed.text
    decoded = await http.post("/codec/decode", json=sealed.json(), headers=by_key)
    assert decoded.status_code == 200 and decoded.json() == original  # reading still works


async def test_codec_server_refuses_other_roles_and_anonymous_callers(
    http: httpx.AsyncClient,
) -> None:
    body = as_json([plain("x")])
    anonymous = await http.post("/codec/decode", json=body, headers={"Origin": UI})
    assert anonymous.status_code == 401
    assert anonymous.headers["access-control-allow-origin"] == UI  # the UI can show why
    for role in (ApiRole.BACKOFFICE, ApiRole.STAFF):
        refused = await http.post("/codec/decode", json=body, headers={"X-API-Key": KEYS[role]})
        assert refused.status_code == 403, role
        assert "needs compliance or admin" in refused.json()["reason"]
    unknown = await http.post("/codec/decode", json=body, headers={"X-API-Key": "guess"})
    assert unknown.status_code == 401
    for garbage in (b"[1,2]", b"\xff\xfe", b'{"payloads": 5}'):
        answer = await http.post(
            "/codec/decode", content=garbage, headers={"X-API-Key": KEYS[ApiRole.COMPLIANCE]}
        )
        assert answer.status_code == 400, garbage


async def test_a_codec_session_lets_the_ui_decrypt_with_a_cookie(
    codec_app: FastAPI, http: httpx.AsyncClient
) -> None:
    page = await http.get("/codec/login")
    assert page.status_code == 200 and 'type="password"' in page.text
    sealed = (
        await http.post(
            "/codec/encode",
            json=as_json([plain("anna@example.com")]),
            headers={"X-API-Key": KEYS[ApiRole.ADMIN]},
        )
    ).json()

    for role, status in ((ApiRole.STAFF, 403), (ApiRole.BACKOFFICE, 403)):
        refused = await http.post("/codec/login", data={"key": KEYS[role]})
        assert refused.status_code == status and "may not read client data" in refused.text
        assert "set-cookie" not in refused.headers
    unknown = await http.post("/codec/login", data={"key": "guess"})
    assert unknown.status_code == 401 and "not known" in unknown.text

    opened = await http.post("/codec/login", data={"key": KEYS[ApiRole.COMPLIANCE]})
    assert opened.status_code == 200 and "Signed in as compliance" in opened.text
    assert "http://api/codec" in opened.text  # what to enter in the UI's codec settings
    cookie = opened.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Path=/codec" in cookie and "SameSite=lax" in cookie
    # The UI's fetch with "include cross-origin credentials": the cookie, no key.
    decoded = await http.post("/codec/decode", json=sealed, headers={"Origin": UI})
    assert decoded.status_code == 200, decoded.text
    assert decoded.headers["access-control-allow-credentials"] == "true"
    assert decoded.json() == as_json([plain("anna@example.com")])

    session = http.cookies["promptly_codec"]
    await http.post("/codec/logout")
    assert "promptly_codec" not in http.cookies
    assert (await http.post("/codec/decode", json=sealed)).status_code == 401

    def with_cookie(value: str) -> dict[str, str]:
        return {"Cookie": f"promptly_codec={value}"}

    assert (await http.post("/codec/decode", json=sealed, headers=with_cookie(session))).is_success
    payload, _, signature = session.partition(".")
    forged = await http.post(
        "/codec/decode", json=sealed, headers=with_cookie(f"{payload}.{signature[::-1]}")
    )
    assert forged.status_code == 401 and "/codec/login" in forged.json()["reason"]
    # The session is as good as its key is now: a removed key ends it.
    codec_app.state.api_keys = ApiKeys({})
    removed = await http.post("/codec/decode", json=sealed, headers=with_cookie(session))
    assert removed.status_code == 401


async def test_codec_server_reports_a_payload_under_an_unknown_key(
    http: httpx.AsyncClient,
) -> None:
    sealed = await EncryptionCodec({"old": os.urandom(32)}, "old").encode([plain("x")])
    answer = await http.post(
        "/codec/decode", json=as_json(sealed), headers={"X-API-Key": KEYS[ApiRole.COMPLIANCE]}
    )
    # The answer says the payloads cannot be decoded; which key ids exist is for the log only.
    assert answer.status_code == 422 and "cannot be decoded" in answer.json()["reason"]
    assert "old" not in answer.text and "'k'" not in answer.text
    truncated = Payload(metadata={"encoding": ENCODING, KEY_ID: b"k"}, data=b"\x00")
    answer = await http.post(
        "/codec/decode",
        json=as_json([truncated]),
        headers={"X-API-Key": KEYS[ApiRole.COMPLIANCE]},
    )
    assert answer.status_code == 422 and "cannot be decoded" in answer.json()["reason"]


async def test_cors_admits_only_the_temporal_ui(http: httpx.AsyncClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x"}
    allowed = await http.options("/codec/decode", headers={"Origin": UI, **preflight})
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == UI
    assert "authorization" in allowed.headers["access-control-allow-headers"]
    other = await http.options(
        "/codec/decode", headers={"Origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in other.headers
    answered = await http.post(
        "/codec/decode",
        json=as_json([plain("x")]),
        headers={"X-API-Key": KEYS[ApiRole.COMPLIANCE], "Origin": "https://evil.example"},
    )
    assert "access-control-allow-origin" not in answered.headers


async def test_no_codec_routes_without_keys(no_codec_env: None) -> None:
    app = FastAPI()
    app.state.api_keys = ApiKeys(
        {"c": ApiKey(key_sha256=hash_key("c-key"), role=ApiRole.COMPLIANCE)}
    )
    app.include_router(codec_router(Settings()))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        answer = await client.post(
            "/codec/decode", json={"payloads": []}, headers={"X-API-Key": "c-key"}
        )
    assert answer.status_code == 404  # no keys, no codec routes


# --- a real case with the codec on ----------------------------------------------------------

SECRET = new_key()


@pytest.fixture
def encrypted(database_url: str) -> Settings:
    return codec_settings(
        {"2026-11": SECRET},
        "2026-11",
        database_url=database_url,
        task_queue=f"promptly-codec-{uuid.uuid4().hex[:8]}",
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def codec_env() -> AsyncIterator[WorkflowEnvironment]:
    settings = codec_settings({"2026-11": SECRET}, "2026-11")
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server"),
        data_converter=data_converter(settings),
    ) as environment:
        await register_search_attributes(environment.client, environment.client.namespace)
        yield environment


async def test_stored_history_holds_no_plaintext_email_or_phone(
    codec_env: WorkflowEnvironment, encrypted: Settings, pool: AsyncConnectionPool
) -> None:
    # Control: the same kind of case recorded without the codec does show them.
    unencrypted = load(HISTORIES / "appointment_completed.json").events
    assert any(EMAIL in event.SerializeToString() for event in unencrypted)

    async with create_worker(codec_env.client, encrypted, pool=pool):
        now = await codec_env.get_current_time()
        request = appointment(now + timedelta(days=3))
        handle = await book(codec_env.client, request, encrypted, now)
        await codec_env.sleep(timedelta(hours=25))  # confirmation, provider notice, alert
        # Decrypted for this client, which has the key.
        view = await handle.query(AppointmentWorkflow.status)
        assert any(e.data.get("template") == "confirmation" for e in view.timeline)
        await end_workflows(codec_env, handle.id)

    history = await handle.fetch_history()
    raw = b"".join(event.SerializeToString() for event in history.events)
    assert EMAIL not in raw and PHONE not in raw and b"Anna Nowak" not in raw
    assert len(history.events) > 20

    # With the key the history replays; without it, only ciphertext: replay cannot even
    # read the workflow's input.
    def replayer(settings: Settings | None) -> Replayer:
        converter = data_converter(settings) if settings else pydantic_data_converter
        return Replayer(
            workflows=WORKFLOWS, data_converter=converter, workflow_runner=workflow_runner()
        )

    copy = WorkflowHistory.from_json(handle.id, history.to_json())
    with_key = await replayer(encrypted).replay_workflow(copy, raise_on_replay_failure=False)
    assert with_key.replay_failure is None, with_key.replay_failure
    without = await replayer(None).replay_workflow(copy, raise_on_replay_failure=False)
    assert without.replay_failure is not None
