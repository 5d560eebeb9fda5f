"""Connecting to any cluster through Temporal's environment configuration (TOML profiles and
TEMPORAL_* variables), as `promptly.worker.make_client` does."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.service import TLSConfig
from temporalio.testing import WorkflowEnvironment

from promptly.config import Settings
from promptly.worker import connect_options, make_client

CLOUD_TOML = """\
[profile.default]
address = "localhost:7233"
namespace = "default"

[profile.cloud]
address = "promptly.a1b2c.tmprl.cloud:7233"
namespace = "promptly.a1b2c"
api_key = "cloud-api-key"

[profile.cloud.tls]
client_cert_path = "{cert}"
client_key_path = "{key}"
server_name = "promptly.a1b2c.tmprl.cloud"
"""


@pytest.fixture
def cloud_profile(tmp_path: Path) -> Path:
    cert = tmp_path / "client.pem"
    key = tmp_path / "client.key"
    cert.write_bytes(b"-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n")
    key.write_bytes(b"-----BEGIN PRIVATE KEY-----\nMIIBkey\n-----END PRIVATE KEY-----\n")
    config = tmp_path / "temporal.toml"
    config.write_text(CLOUD_TOML.format(cert=cert, key=key), encoding="utf-8")
    return config


SETTINGS = Settings(temporal_address="temporal.internal:7233", temporal_namespace="promptly")


def test_toml_profile_with_tls_paths_and_api_key(cloud_profile: Path) -> None:
    options = connect_options(
        SETTINGS, env={"TEMPORAL_CONFIG_FILE": str(cloud_profile), "TEMPORAL_PROFILE": "cloud"}
    )
    assert options["target_host"] == "promptly.a1b2c.tmprl.cloud:7233"
    assert options["namespace"] == "promptly.a1b2c"
    assert options["api_key"] == "cloud-api-key"
    tls = options["tls"]
    assert isinstance(tls, TLSConfig)
    assert tls.client_cert == (cloud_profile.parent / "client.pem").read_bytes()
    assert tls.client_private_key == (cloud_profile.parent / "client.key").read_bytes()
    assert tls.domain == "promptly.a1b2c.tmprl.cloud"
    assert tls.server_root_ca_cert is None  # the system's roots, as Temporal Cloud needs


def test_profile_chosen_by_argument(cloud_profile: Path) -> None:
    options = connect_options(SETTINGS, "cloud", env={"TEMPORAL_CONFIG_FILE": str(cloud_profile)})
    assert options["namespace"] == "promptly.a1b2c"
    default = connect_options(SETTINGS, env={"TEMPORAL_CONFIG_FILE": str(cloud_profile)})
    assert default["target_host"] == "localhost:7233"
    assert "tls" not in default and "api_key" not in default


def test_environment_variables_override_the_profile(cloud_profile: Path) -> None:
    options = connect_options(
        SETTINGS,
        env={
            "TEMPORAL_CONFIG_FILE": str(cloud_profile),
            "TEMPORAL_PROFILE": "cloud",
            "TEMPORAL_ADDRESS": "eu-west-1.aws.api.temporal.io:7233",
            "TEMPORAL_API_KEY": "rotated-key",
        },
    )
    assert options["target_host"] == "eu-west-1.aws.api.temporal.io:7233"
    assert options["api_key"] == "rotated-key"
    assert options["namespace"] == "promptly.a1b2c"


def test_environment_variables_alone(cloud_profile: Path) -> None:
    cert, key = cloud_profile.parent / "client.pem", cloud_profile.parent / "client.key"
    options = connect_options(
        SETTINGS,
        env={
            "TEMPORAL_ADDRESS": "promptly.a1b2c.tmprl.cloud:7233",
            "TEMPORAL_NAMESPACE": "promptly.a1b2c",
            "TEMPORAL_TLS_CLIENT_CERT_PATH": str(cert),
            "TEMPORAL_TLS_CLIENT_KEY_PATH": str(key),
        },
    )
    assert options["target_host"] == "promptly.a1b2c.tmprl.cloud:7233"
    tls = options["tls"]
    assert isinstance(tls, TLSConfig)
    assert tls.client_cert == cert.read_bytes()
    assert tls.client_private_key == key.read_bytes()
    api_key_only = connect_options(SETTINGS, env={"TEMPORAL_API_KEY": "k"})
    assert api_key_only["api_key"] == "k"
    assert api_key_only["tls"] is True  # an API key turns TLS on


def test_without_env_config_the_settings_apply() -> None:
    options = connect_options(SETTINGS, env={})
    assert options == {"target_host": "temporal.internal:7233", "namespace": "promptly"}


async def test_make_client_connects_through_the_profile(
    env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = env.client.service_client.config.target_host
    config = tmp_path / "temporal.toml"
    config.write_text(
        f'[profile.local]\naddress = "{server}"\nnamespace = "default"\n', encoding="utf-8"
    )
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(config))
    monkeypatch.setenv("TEMPORAL_PROFILE", "local")
    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    client = await make_client(Settings(temporal_address="nowhere.invalid:1"))
    assert client.service_client.config.target_host == server
    assert client.namespace == "default"
    assert await client.service_client.check_health()
