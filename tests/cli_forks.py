"""`promptly` runs as the console script makes them, at a fraction of the cost: a script that
imports `promptly.cli.main` once (what the console script does first, most of the CPU of a
run), then forks one child per run. Each child sets its argv and does what the console script
does, `sys.exit(main())`, with nothing around it that catches what it raises: it ends by the
same path, interpreter finalization included when `main` returns. No thread and no Temporal
runtime exist before a fork (checked here): the SDK's native runtime starts in each child when
it connects, as in a fresh process.

    python tests/cli_forks.py AT_ONCE '[["list", "--limit", "1"], ...]'

prints one JSON line: `[[args, exit code (negative: the signal), stderr], ...]`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile


def _child(args: list[str], stderr_path: str) -> None:
    from promptly.cli.main import main

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(os.open(stderr_path, os.O_WRONLY | os.O_TRUNC), 2)
    sys.argv = ["promptly", *args]
    # The console script's `sys.exit(main())` (main returns None); nothing here catches what
    # either raises, so a child that gets past main finalizes as the script would.
    main()
    sys.exit()


def _start(args: list[str]) -> tuple[int, str]:
    """A child for `args` (the caller returns at once in the child, see `run`)."""
    handle, stderr_path = tempfile.mkstemp(prefix="promptly-run-")
    os.close(handle)
    sys.stdout.flush()
    sys.stderr.flush()
    return os.fork(), stderr_path


def run(at_once: int, commands: list[list[str]]) -> None:
    import temporalio.runtime

    import promptly.cli.main  # noqa: F401  (the import every child shares)

    threads = len(os.listdir("/proc/self/task"))  # native ones too
    if threads != 1 or temporalio.runtime._runtime_ref._default_runtime is not None:
        raise RuntimeError("a thread or a Temporal runtime before fork: the runs would differ")
    running: dict[int, tuple[list[str], str]] = {}
    results: list[tuple[list[str], int, str]] = []
    waiting = list(commands)
    while waiting or running:
        while waiting and len(running) < at_once:
            args = waiting.pop(0)
            pid, stderr_path = _start(args)
            if pid == 0:
                _child(args, stderr_path)
            running[pid] = (args, stderr_path)
        pid, status = os.wait()
        args, stderr_path = running.pop(pid)
        with open(stderr_path, encoding="utf-8", errors="replace") as said:
            stderr = said.read()
        os.unlink(stderr_path)
        results.append((args, os.waitstatus_to_exitcode(status), stderr))
    print(json.dumps(results))


if __name__ == "__main__":
    run(int(sys.argv[1]), json.loads(sys.argv[2]))
