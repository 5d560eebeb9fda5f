"""py-spy on a worker process: record while a benchmark runs, then the frames that dominate."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypedDict

_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def py_spy() -> str:
    found = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if found is None:
        raise RuntimeError("py-spy is not installed (pip install -e '.[dev]')")
    return found


@contextmanager
def recording(pid: int, output: Path, rate: int = 50) -> Iterator[None]:
    """py-spy samples `pid` (collapsed stacks in `output`) until the block ends."""
    process = subprocess.Popen(
        [
            py_spy(),
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--output",
            str(output),
            "--nonblocking",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        # py-spy writes its file when interrupted.
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _short(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "promptly/", "bench/", "lib/python3"):
        if marker in path:
            path = path[path.index(marker) :].removeprefix("site-packages/")
            break
    return f"{match['function']} ({path})"


# Leaves where a thread waits rather than works (event loop select, idle thread pool).
_IDLE = ("EpollSelector.select", "_worker (concurrent/futures/thread.py)", "Condition.wait")
# Frames every sample runs under (entry points, the event loop): they tell nothing.
_FRAMING = (
    "asyncio/",
    "typer/",
    "click/",
    "threading.py",
    "concurrent/futures/thread.py",
    "promptly/worker.py",
    "promptly/cli/main.py",
    "<module> (promptly)",
)
# Where busy samples go: a sample counts for each group with a frame anywhere in its stack.
GROUPS = {
    "workflow_sandbox": "temporalio/worker/workflow_sandbox/",
    "payload_visitor": "temporalio/bridge/_visitor.py",
    "pydantic_converter": "temporalio/contrib/pydantic.py",
    "psycopg": "psycopg/",
    "promptly_workflows": "promptly/workflows/",
    "promptly_activities": "promptly/activities/",
}


class Frames(TypedDict):
    busy_share: float
    groups: dict[str, float]
    self: list[tuple[str, float]]
    inclusive: list[tuple[str, float]]


def top_frames(collapsed: Path, count: int = 15) -> Frames:
    """Where the worker spends its busy samples: the functions on top of the stack (self) and
    the project and SDK functions anywhere in it (inclusive), as shares of busy samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    groups: Counter[str] = Counter()
    total = idle = 0
    for line in collapsed.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        weight = int(samples)
        frames = [_short(frame) for frame in stack.split(";")]
        # The first frame is the thread ("process 123:..."/"thread ..."), not a function.
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        if frames[-1].startswith(_IDLE):
            idle += weight
            continue
        total += weight
        own[frames[-1]] += weight
        for frame in set(frames):
            if not any(marker in frame for marker in _FRAMING):
                inclusive[frame] += weight
        for group, marker in GROUPS.items():
            if any(marker in frame for frame in frames):
                groups[group] += weight
    busy = max(total, 1)
    return {
        "busy_share": round(total / max(total + idle, 1), 3),
        "groups": {group: round(groups[group] / busy, 3) for group in GROUPS},
        "self": [(name, round(n / busy, 3)) for name, n in own.most_common(count)],
        "inclusive": [(name, round(n / busy, 3)) for name, n in inclusive.most_common(count)],
    }
