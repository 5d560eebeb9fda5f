"""The deployment files, checked without a container engine: docker-compose.yml, the Dockerfile,
.env.example against the settings model."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from promptly.config import Settings
from promptly.starter import env_example

ROOT = Path(__file__).parent.parent
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
SETTING_NAMES = {env_example.env_name(name) for name in Settings.model_fields}
PROMPTLY_VAR = re.compile(r"\bPROMPTLY_[A-Z0-9_]+")
ONE_SHOT = {"setup"}


def test_the_stack_has_every_part() -> None:
    assert set(SERVICES) == {"postgres", "temporal", "temporal-ui", "setup", "worker", "api"}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_an_image_or_a_build(name: str) -> None:
    service = SERVICES[name]
    assert service.get("image") or service.get("build"), name


def test_worker_api_and_setup_share_one_image_built_here() -> None:
    built = {name: (s.get("build"), s.get("image")) for name, s in SERVICES.items() if "build" in s}
    assert set(built) == {"setup", "worker", "api"}
    assert len(set(built.values())) == 1
    assert built["worker"][0] == "."
    assert SERVICES["worker"]["command"] == ["promptly", "worker"]
    assert SERVICES["api"]["command"][:2] == ["promptly", "api"]
    module, _, factory = "promptly.starter.api:create_app".partition(":")
    assert callable(getattr(importlib.import_module(module), factory))


def test_every_promptly_variable_is_a_setting() -> None:
    used = set(PROMPTLY_VAR.findall(COMPOSE_TEXT))
    assert used, "the compose file sets no PROMPTLY_ variable"
    assert used <= SETTING_NAMES, f"not in Settings: {sorted(used - SETTING_NAMES)}"
    for name, service in SERVICES.items():
        for key in service.get("environment") or {}:
            if key.startswith("PROMPTLY_"):
                assert key in SETTING_NAMES, f"{name}: {key}"


def test_published_ports() -> None:
    def container_ports(name: str) -> set[str]:
        return {str(p).rsplit(":", 1)[-1] for p in SERVICES[name].get("ports", [])}

    assert container_ports("api") == {"8000"}
    assert container_ports("temporal") == {"7233"}
    assert container_ports("temporal-ui") == {"8080"}
    assert container_ports("worker") == {"9464"}
    # PostgreSQL stays inside the compose network.
    assert "ports" not in SERVICES["postgres"]
    assert SERVICES["postgres"]["expose"] == ["5432"]
    assert SERVICES["worker"]["environment"]["PROMPTLY_METRICS_BIND"] == "0.0.0.0:9464"


@pytest.mark.parametrize("name", sorted(set(SERVICES) - ONE_SHOT))
def test_every_long_running_service_has_a_health_check(name: str) -> None:
    check = SERVICES[name].get("healthcheck")
    assert check and check.get("test"), name
    assert check["test"][0] in ("CMD", "CMD-SHELL")
    for key in ("interval", "timeout", "retries"):
        assert key in check, f"{name}: healthcheck.{key}"
    if check["test"][:3] == ["CMD", "python", "-c"]:
        compile(check["test"][3], f"{name} healthcheck", "exec")


def test_dependencies_wait_for_health_or_completion() -> None:
    for name, service in SERVICES.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
            condition = rule["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in SERVICES[dependency], f"{name} → {dependency}"
            else:
                assert condition == "service_completed_successfully"
                assert dependency in ONE_SHOT
    assert SERVICES["setup"]["restart"] == "no"


def test_volumes_are_named_and_mounted_files_exist() -> None:
    declared = set(COMPOSE.get("volumes") or {})
    assert "postgres-data" in declared
    for name, service in SERVICES.items():
        for mount in service.get("volumes", []):
            source = str(mount).split(":", 1)[0]
            if source.startswith("."):
                assert (ROOT / source).is_file(), f"{name}: {source} is missing"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"


def test_temporal_persists_to_postgresql_and_the_ui_takes_a_codec() -> None:
    temporal = SERVICES["temporal"]["environment"]
    assert temporal["DB"] == "postgres12"
    assert temporal["POSTGRES_SEEDS"] == "postgres"
    ui = SERVICES["temporal-ui"]["environment"]
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == "${TEMPORAL_UI_CODEC_ENDPOINT:-}"


def test_dockerfile_is_slim_non_root_and_without_dev_dependencies() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    bases = re.findall(r"^FROM\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert bases and all(base.startswith("python:") and base.endswith("-slim") for base in bases)
    users = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert "[dev]" not in dockerfile and ".[dev]" not in dockerfile
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8")
    assert "!promptly/" in ignore and "!pyproject.toml" in ignore


# --- .env.example -------------------------------------------------------------------------------


def example_names() -> set[str]:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^#?\s*(PROMPTLY_[A-Z0-9_]+)=", text, flags=re.MULTILINE))


def test_env_example_lists_exactly_the_settings() -> None:
    names = example_names()
    assert names - SETTING_NAMES == set(), "in .env.example, not in Settings"
    assert SETTING_NAMES - names == set(), "in Settings, not in .env.example"


def test_env_example_is_generated_from_the_model() -> None:
    current = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert current == env_example.render(), (
        "regenerate: .venv/bin/python -m promptly.starter.env_example > .env.example"
    )


def test_env_example_values_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    """Uncommenting any line of the example gives a valid setting."""
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    for name, value in re.findall(r"^#?\s*(PROMPTLY_[A-Z0-9_]+)=(.+)$", text, re.MULTILINE):
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.log_format == "json"
    assert settings.metrics_bind is None  # compose binds the worker's; one port per host
    assert settings.retention.days == 395


class _ComposeLoader(yaml.SafeLoader):
    """PyYAML plus compose's merge tags (`!override`, `!reset`) as plain values."""


def _tagged(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_ComposeLoader.add_constructor("!override", _tagged)
_ComposeLoader.add_constructor("!reset", _tagged)


def test_cloud_override_skips_the_local_temporal() -> None:
    text = (ROOT / "docker-compose.cloud.yml").read_text(encoding="utf-8")
    override = yaml.load(text, Loader=_ComposeLoader)  # noqa: S506 - SafeLoader subclass
    services = override["services"]
    assert set(services) <= set(SERVICES)
    assert "!override" in text
    assert set(services["setup"]["depends_on"]) == {"postgres"}
    for name in ("setup", "worker", "api"):
        assert "./secrets:/run/secrets:ro" in services[name]["volumes"]
    # Nothing else the worker or API need depends on the local Temporal server.
    for name in ("worker", "api"):
        assert set(SERVICES[name]["depends_on"]) == {"setup"}


def test_api_logs_json_through_the_shipped_uvicorn_config() -> None:
    import json
    import logging.config

    command = SERVICES["api"]["command"]
    path = command[command.index("--log-config") + 1]
    assert path == "/etc/promptly/uvicorn-log.json"
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert f"COPY deploy/uvicorn-log.json {path}" in dockerfile
    assert "!deploy/uvicorn-log.json" in (ROOT / ".dockerignore").read_text(encoding="utf-8")
    config = json.loads((ROOT / "deploy" / "uvicorn-log.json").read_text(encoding="utf-8"))
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        logging.config.dictConfig(config)  # what uvicorn does with --log-config *.json
        from promptly.observability import JsonFormatter

        assert any(isinstance(h.formatter, JsonFormatter) for h in root.handlers)
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
