"""The `promptly` command line (typer): one module per command group."""
