"""Property-based fuzzing of the OpenAPI document with schemathesis.

The app is served by uvicorn in the test's event loop (with a worker, on a dev server) and
schemathesis's command line drives it over HTTP: no 5xx, every status, header and body as the
document says (errors are `ErrorBody`, a JSON object with a reason).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path

import httpx
import pytest_asyncio
import uvicorn
from psycopg_pool import AsyncConnectionPool

from promptly.api.app import create_app
from promptly.config import ApiRole, Settings
from promptly.worker import create_worker
from tests.api_support import KEYS, with_api_keys
from tests.conftest import installed_binary, start_dev_server

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)


class _Server(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest_asyncio.fixture(loop_scope="session")
async def served(settings: Settings, pool: AsyncConnectionPool) -> AsyncIterator[str]:
    configured = with_api_keys(settings)
    port = _free_port()
    async with AsyncExitStack() as stack:
        # A server of its own: the fuzzer finds ids in list answers, and cases left by other
        # tests have no worker any more (their updates would rightly time out).
        own = await stack.enter_async_context(await start_dev_server())
        app = create_app(configured, client=own.client, pool=pool)
        server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
        await stack.enter_async_context(create_worker(own.client, configured, pool=pool))
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        # FastAPI builds the OpenAPI document on its first request: seconds of CPU on a busy
        # machine, past schemathesis's 10 s limit for loading it. Built once here, it is served.
        async with httpx.AsyncClient(timeout=120) as http:
            (await http.get(f"{url}/openapi.json")).raise_for_status()
        yield url
        server.should_exit = True
        await task


async def test_openapi_fuzzing_finds_no_server_errors(served: str, tmp_path: Path) -> None:
    log = tmp_path / "schemathesis.txt"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            installed_binary("st"),
            "run",
            f"{served}/openapi.json",
            "--checks",
            CHECKS,
            "--header",
            f"X-API-Key: {KEYS[ApiRole.ADMIN][1]}",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            os.environ.get("PROMPTLY_FUZZ_EXAMPLES", "25"),
            "--workers",
            "1",
            "--request-timeout",
            "40",
            "--seed",
            "1",
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "NO_COLOR": "1"},
        )
        try:
            await asyncio.wait_for(process.wait(), timeout=600)
        except TimeoutError:
            process.kill()
            await process.wait()
    assert process.returncode == 0, log.read_text(errors="replace")[-20000:]
