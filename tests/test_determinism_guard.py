"""The worker passes Promptly's own modules through the sandbox (promptly/worker.py says why),
so the sandbox no longer stops a clock read or a random number in workflow code at run time.
These checks stop it before: ruff refuses it in promptly/workflows and promptly/domain, and
the replay runner keeps the full sandbox, which refuses it when a stored history replays."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from promptly.config import Settings
from promptly.worker import worker_runner, workflow_runner
from tests.conftest import installed_binary

ROOT = Path(__file__).parent.parent

CALLS = {
    "clock": "from datetime import UTC, datetime\n\nNOW = datetime.now(UTC)\n",
    "epoch": "import time\n\nNOW = time.time()\n",
    "monotonic": "import time\n\nNOW = time.monotonic()\n",
    "uuid": "import uuid\n\nID = uuid.uuid4()\n",
    "random": "import random\n\nPICK = random.random()\n",
    "secrets": "import secrets\n\nTOKEN = secrets.token_hex(8)\n",
    "environment": "import os\n\nHOME = os.environ['HOME']\n",
    "io": "import httpx\n\nPAGE = httpx.get('http://localhost')\n",
    "epoch_ns": "import time\n\nNOW = time.time_ns()\n",
    "local_time": "from time import localtime\n\nNOW = localtime()\n",
    "getenv": "import os\n\nHOME = os.getenv('HOME')\n",
    "getenv_from": "from os import environ\n\nHOME = environ.get('HOME')\n",
    "urandom": "from os import urandom\n\nTOKEN = urandom(8)\n",
    "file": "from pathlib import Path\n\nTEXT = Path('/etc/hostname').read_text()\n",
    "open": "TEXT = open('/etc/hostname').read()\n",
    "socket": "import socket\n\nHOST = socket.gethostname()\n",
    "urllib": "from urllib.request import urlopen\n\nPAGE = urlopen('http://localhost')\n",
    "loop_clock": "import asyncio\n\nLOOP = asyncio.get_running_loop()\nNOW = LOOP.time()\n",
}
# The rule each is refused by: banned-api (TID251), or for the builtin `open()`, which
# banned-api cannot name, PTH123.
RULE = {"open": "PTH123"}


def ruff(source: str, path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [installed_binary("ruff"), "check", "--no-cache", "--stdin-filename", path, "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


@pytest.mark.parametrize("layer", ["workflows", "domain"])
@pytest.mark.parametrize("call", sorted(CALLS))
def test_ruff_refuses_what_the_sandbox_would_have_stopped(layer: str, call: str) -> None:
    checked = ruff(CALLS[call], f"promptly/{layer}/probe.py")
    assert checked.returncode == 1, checked.stdout
    assert RULE.get(call, "TID251") in checked.stdout


def test_activities_may_read_the_clock() -> None:
    checked = ruff(CALLS["clock"], "promptly/activities/probe.py")
    assert checked.returncode == 0, checked.stdout


def test_replays_reimport_promptly_in_the_sandbox_and_the_worker_passes_it_through() -> None:
    replay = workflow_runner()
    worker = worker_runner(Settings())
    assert isinstance(worker, SandboxedWorkflowRunner)
    assert "promptly" not in replay.restrictions.passthrough_modules
    assert "promptly" in worker.restrictions.passthrough_modules
