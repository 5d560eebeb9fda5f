"""`make bench` (`python -m bench`): every benchmark, one JSON line each on stdout.

    python -m bench [--quick] [--workers 2] [--only burst,steady] [--profile DIR]

`--quick` sizes the suite for a run under ten minutes on a 2-core machine. Each benchmark
starts its own Temporal dev server and PostgreSQL and stops them (and its workers) on the
way out, also on Ctrl-C. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bench import api, burst, common, lifecycle, memory, stack, steady, updates

BENCHMARKS = ["burst", "steady", "updates", "lifecycle", "memory", "api"]


def plan(
    args: argparse.Namespace,
) -> dict[str, Callable[[], Coroutine[Any, Any, dict[str, object]]]]:
    quick = args.quick
    workers = args.workers
    profile = Path(args.profile) / "burst.collapsed" if args.profile else None
    return {
        "burst": lambda: burst.run(100 if quick else 2000, workers, profile),
        "steady": lambda: steady.run(5.0, 30 if quick else 300, workers),
        "updates": lambda: updates.run(100 if quick else 1000, 5.0, 30 if quick else 120, workers),
        "lifecycle": lambda: lifecycle.run(30 if quick else 500, workers),
        "memory": lambda: memory.run([50, 100, 200] if quick else [1000, 5000, 10000], workers),
        "api": lambda: api.run(50.0, 10 if quick else 60, workers),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="sizes for a run under 10 minutes")
    parser.add_argument("--workers", type=int, default=1, help="worker processes per side")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated names")
    parser.add_argument("--profile", help="directory for py-spy's recording of the burst")
    common.add_settings_option(parser)
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    stack.WORKER_SETTINGS.update(common.worker_settings(args.set))
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    runs = plan(args)
    failed = False
    try:
        for name in chosen:
            common.note(f"{name}: starting")
            try:
                line = asyncio.run(runs[name]())
                if stack.WORKER_SETTINGS:
                    line["settings"] = dict(stack.WORKER_SETTINGS)
                common.emit(line)
            except KeyboardInterrupt:
                raise
            except Exception as err:  # one broken benchmark still lets the others report
                failed = True
                common.emit({"bench": name, "error": f"{type(err).__name__}: {err}"})
    except KeyboardInterrupt:
        common.note("interrupted: servers and workers stopped")
        failed = True
    sys.stdout.flush()
    sys.stderr.flush()
    # The SDK's native runtime threads can abort at interpreter exit.
    os._exit(1 if failed else 0)


if __name__ == "__main__":
    main()
