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
    """A `PROMPTLY_*` value the settings refuse ends the process with exit 2 and one line per
    variable, not a traceback; any other validation error is a bug and prints as one."""
    from promptly.config import settings_problems

    if invalid.title != "Settings":
        traceback.print_exc()
        return 1
    for line in settings_problems(invalid):
        print(f"promptly: {line}", file=sys.stderr)
    return 2


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
    except BaseException:  # an entry point's last word: print it and fail
        traceback.print_exc()
        code = 1
    exit_now(code)
