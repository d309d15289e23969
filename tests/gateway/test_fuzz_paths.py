"""Any run id in the path and any ``?wait`` get an answer in the error shape (no plain-text 404 for an
empty id or an id with a slash), and the gateway still answers afterwards."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nexus.common.paths import NexusPaths
from nexus.config.schema import NexusConfig
from nexus.gateway.assemble import serve
from tests.gateway.conftest import ScriptedRouter


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, str]]:
    """One real gateway in a thread for the whole module (hypothesis calls the test many times)."""
    paths = NexusPaths(home=tmp_path_factory.mktemp("fuzz-home"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        holder["loop"], holder["stop"] = asyncio.get_running_loop(), asyncio.Event()
        await serve(
            config=NexusConfig(),
            paths=paths,
            router=ScriptedRouter(),
            sock=sock,
            environ={},
            handle_signals=False,
            on_ready=lambda _rt: ready.set(),
            stop=holder["stop"],
        )

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(15), "gateway did not start"
    token = paths.token_file.read_text().strip()
    with httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as c:
        yield c, token
        assert c.get("/healthz").status_code == 200  # still answers after everything
    holder["loop"].call_soon_threadsafe(holder["stop"].set)
    thread.join(15)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=40), st.text(max_size=12))
def test_any_run_id_and_wait_are_answered(live: tuple[httpx.Client, str], run_id: str, wait: str) -> None:
    client, _ = live
    response = client.get(f"/api/runs/{quote(run_id, safe='')}", params={"wait": wait[:3]})
    assert response.status_code in (200, 307, 400, 404), response.text
    if response.status_code == 307:  # Starlette's trailing-slash redirect ("x/" -> "x")
        assert run_id.endswith("/") and "/api/runs/" in response.headers["location"]
    elif response.status_code != 200:
        body = response.json()
        assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)
