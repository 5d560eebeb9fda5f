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


def run_then_exit(main: Callable[[], object]) -> NoReturn:
    """Run `main` (an entry point) and end the process as it asked, skipping finalization."""
    try:
        main()
        code = 0
    except SystemExit as stop:
        code = exit_code(stop)
    except KeyboardInterrupt:
        code = 130
    except BaseException:  # an entry point's last word: print it and fail
        traceback.print_exc()
        code = 1
    exit_now(code)
