"""The import paths integrators use (DESIGN.md §2) keep working."""

import inspect

from promptly.api import create_app
from promptly.worker import create_worker, data_converter


def test_the_public_factories_are_where_the_design_says() -> None:
    assert list(inspect.signature(create_app).parameters)[:1] == ["settings"]
    assert {"client", "pool"} <= set(inspect.signature(create_app).parameters)
    assert list(inspect.signature(create_worker).parameters)[:2] == ["client", "settings"]
    assert "settings" in inspect.signature(data_converter).parameters
