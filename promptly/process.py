"""How every Promptly process ends: with the exit code it earned, never in a native crash.

The Temporal SDK's native runtime keeps threads that call back into Python. When the
interpreter finalizes while they run, the process aborts (`Fatal Python error:
PyGILState_Release`, exit 134) after doing its work correctly. So every entry point (the CLI,
and through it the worker, the dev stack and the API server) runs its work, flushes what it
wrote, and leaves with `os._exit` before finalization can start.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn

from pydantic import ValidationError


def exit_now(code: int) -> NoReturn:
    """Flush logs and streams, then end the process without interpreter finalization."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`promptly list | head`)
            pass
    os._exit(code)


def exit_code(stop: SystemExit) -> int:
    """The status `sys.exit(value)` asks for: None is 0, an int itself, text is printed and 1."""
    if stop.code is None:
        return 0
    if isinstance(stop.code, int):
        return stop.code
    print(stop.code, file=sys.stderr)
    return 1


def _refused_settings(invalid: ValidationError) -> int:
    """A `PROMPTLY_*` value the settings refuse, or a value given to a command that its model
    refuses, ends the process with exit 2 and one line per field, not a traceback."""
    from promptly.config import settings_problems

    if invalid.title != "Settings":  # a value given on the command line, e.g. an empty id
        for problem in invalid.errors():
            where = ".".join(str(part) for part in problem["loc"]) or invalid.title
            print(f"promptly: {where}: {problem['msg']}", file=sys.stderr)
        return 2
    for line in settings_problems(invalid):
        print(f"promptly: {line}", file=sys.stderr)
    return 2


def _in_one_line(err: BaseException) -> tuple[str, int] | None:
    """An operator's mistake or a dependency out of reach, said in one line with its exit
    code (2: bad input, 1: the rest); None for anything else, which is a bug."""
    from psycopg import DataError, OperationalError
    from psycopg_pool import PoolTimeout
    from pydantic_settings import SettingsError

    from promptly.config.operations import PlaintextPayloads
    from promptly.config.signing import MissingSecret
    from promptly.db import MigrationBlocked
    from promptly.db.schema import SchemaNotCurrent
    from promptly.services.setup import SearchAttributesMissing

    if isinstance(err, UnicodeDecodeError):
        return "a file given is not UTF-8 text", 2
    if isinstance(err, OSError) and err.filename is not None:  # a path given: missing, a folder
        return f"{err.strerror or err}: {err.filename}", 2
    if isinstance(err, (OverflowError, DataError)):
        return f"a date or number is out of range: {err}", 2
    if isinstance(err, SettingsError):
        return str(err), 2
    if isinstance(err, (MissingSecret, PlaintextPayloads)):  # the message says how to fix it
        return str(err), 2
    if isinstance(err, SchemaNotCurrent):  # the message names the command that fixes it
        return str(err), 2
    if isinstance(err, (MigrationBlocked, SearchAttributesMissing)):  # it says what to do
        return str(err), 1
    if isinstance(err, (PoolTimeout, OperationalError)):
        return f"cannot reach PostgreSQL (PROMPTLY_DATABASE_URL): {_one_line(err)}", 1
    if isinstance(err, RuntimeError) and str(err).startswith("Failed client connect"):
        where = "PROMPTLY_TEMPORAL_ADDRESS; locally, is `make run` going?"
        return f"cannot reach Temporal ({where}): {_one_line(err)}", 1
    return None


def _one_line(err: BaseException) -> str:
    """libpq's and the SDK's messages run over several lines (a hint, a cause)."""
    return " ".join(str(err).split())


def run_then_exit(main: Callable[[], object]) -> NoReturn:
    """Run `main` (an entry point) and end the process as it asked, skipping finalization."""
    try:
        main()
        code = 0
    except SystemExit as stop:
        code = exit_code(stop)
    except KeyboardInterrupt:
        code = 130
    except ValidationError as invalid:
        code = _refused_settings(invalid)
    except BaseException as err:  # an entry point's last word: one line, or the traceback
        said = _in_one_line(err)
        if said is None:
            traceback.print_exc()
            code = 1
        else:
            print(f"promptly: {said[0]}", file=sys.stderr)
            code = said[1]
    exit_now(code)
