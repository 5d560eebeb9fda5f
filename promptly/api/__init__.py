"""The HTTP API's public entry point (DESIGN.md §2): `promptly.api.create_app(settings, *,
client=None, pool=None)`. The routes live in `promptly.api.app*`; integrators import the
factory from here so that layout can change without breaking them."""

from promptly.api.app import create_app

__all__ = ["create_app"]
