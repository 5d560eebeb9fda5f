"""The import rules of the house (docs/architecture.md): each layer imports only downwards.

Read from the source with `ast`, so a lazy import inside a function counts too. What the API
and the CLI load at start is checked in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "promptly"

# layer (a folder of promptly/) → module prefixes it must never import, and why.
FORBIDDEN: dict[str, dict[str, str]] = {
    "domain": {
        "temporalio": "rules are pure: no Temporal",
        "psycopg": "rules are pure: no I/O",
        "sendgrid": "rules are pure: no I/O",
        "twilio": "rules are pure: no I/O",
        "httpx": "rules are pure: no I/O",
        "promptly.activities": "the domain is the ground floor",
        "promptly.workflows": "the domain is the ground floor",
        "promptly.api": "the domain is the ground floor",
        "promptly.cli": "the domain is the ground floor",
        "promptly.services": "the domain is the ground floor",
        "promptly.worker": "the domain is the ground floor",
    },
    "activities": {
        "promptly.workflows": "activities act; workflows decide",
        "promptly.api": "activities never reach up to the edge",
        "promptly.cli": "activities never reach up to the edge",
        "promptly.services": "activities never reach up to the edge",
        "promptly.dev": "activities never reach up to the edge",
    },
    "workflows": {
        "psycopg": "workflow code does no I/O",
        "sendgrid": "workflow code does no I/O",
        "twilio": "workflow code does no I/O",
        "httpx": "workflow code does no I/O",
        "promptly.api": "workflows never reach up to the edge",
        "promptly.cli": "workflows never reach up to the edge",
        "promptly.services": "workflows never reach up to the edge",
    },
    "services": {
        "fastapi": "services are shared by the API and the CLI",
        "typer": "services are shared by the API and the CLI",
        "promptly.activities": "a client does not load activities",
        "promptly.worker": "clients come from promptly.client",
        "promptly.api": "services sit under the API",
        "promptly.cli": "services sit under the CLI",
    },
    "api": {
        "promptly.activities": "a client does not load activities",
        "promptly.worker": "clients come from promptly.client",
        "promptly.cli": "the API and the CLI are siblings",
        "typer": "the API and the CLI are siblings",
    },
    "cli": {
        "promptly.activities": "a client does not load activities",
        "promptly.api": "the API and the CLI are siblings",
        "fastapi": "the API and the CLI are siblings",
    },
}
# Commands that *are* the worker or the API server start them; replaying archived histories
# needs the workflow code the worker runs.
ALLOWED = {
    ("cli/main.py", "promptly.worker"),
    ("cli/main.py", "promptly.api"),
    ("services/history_replay.py", "promptly.worker"),
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _breaks(layer: str) -> list[str]:
    broken = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        for name in _imports(path):
            for prefix, why in FORBIDDEN[layer].items():
                if (name == prefix or name.startswith(prefix + ".")) and (
                    relative,
                    prefix,
                ) not in ALLOWED:
                    broken.append(f"{relative} imports {name}: {why}")
    return sorted(set(broken))


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_each_layer_imports_only_downwards(layer: str) -> None:
    assert (PACKAGE / layer).is_dir()
    assert _breaks(layer) == []


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from promptly.workflows.appointment import X\n")
    assert "promptly.workflows.appointment" in _imports(module)


# The providers' client libraries and the migration tool: only the worker sends and only an
# upgrade migrates; the API and the CLI start faster without them (docs/architecture.md).
WORKER_ONLY = ("sendgrid", "twilio.rest", "yoyo")


def _loaded_by(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return set(out.split())


@pytest.mark.parametrize("entry", ["promptly.cli.main", "promptly.api"])
def test_the_api_and_the_cli_do_not_load_the_workers_libraries(entry: str) -> None:
    loaded = _loaded_by(entry)
    assert "promptly.workflows.appointment" in loaded  # typed handles need the workflow classes
    assert [name for name in WORKER_ONLY if name in loaded] == []


def test_the_worker_does_load_them() -> None:
    """The check above can fail: importing the worker brings the channels' libraries."""
    assert {"sendgrid", "twilio.rest"} <= _loaded_by("promptly.worker")
