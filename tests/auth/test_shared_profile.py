"""Eight real processes share one OAuth profile across several token lifetimes.

The incident's root cause 1 as a test. A gateway, two `nexus ask` loops (a new process per question)
and five store clients all use ``anthropic:main`` while its access token expires every 2 s: the
family is never revoked, no request fails, and the token endpoint sees one refresh per lifetime,
spent only once the token is due, however many processes want it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from nexus.fakes.anthropic_server import FakeAnthropic
from nexus.fakes.oauth_server import FakeOAuthServer
from tests.auth.conftest import write_store
from tests.auth.race_worker import ROOT, race

NEXUS = str(Path(sys.executable).parent / "nexus")
TTL_S = 2.0
RUN_S = 11.0  # five lifetimes of a 2 s token, plus the first one


def _env(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "NEXUS_HOME": str(home),
        "HOME": str(home.parent),
        "PYTHONPATH": str(ROOT),
    }


def _ask_loop(home: Path, until: float, codes: list[int], errors: list[str]) -> None:
    n = 0
    while time.monotonic() < until:
        n += 1
        r = subprocess.run(
            [NEXUS, "ask", "--json", f"q{n}"], capture_output=True, text=True, env=_env(home), timeout=60
        )
        codes.append(r.returncode)
        if r.returncode != 0 or json.loads(r.stdout)["text"] != f"echo: q{n}":
            errors.append(r.stderr[-500:])


def _start_gateway(home: Path) -> tuple[subprocess.Popen[bytes], int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    try:
        proc = subprocess.Popen(
            [NEXUS, "gateway", "run", "--listen-fd", str(sock.fileno()), "--log-level", "warning"],
            env=_env(home),
            pass_fds=(sock.fileno(),),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    finally:
        sock.close()  # the gateway holds its own copy
    return proc, port


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], bound_s: float = 30.0) -> None:
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "gateway exited during start-up"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"gateway not healthy within {bound_s}s")


def test_gateway_ask_loops_and_clients_share_one_profile(tmp_path: Path) -> None:
    home = tmp_path / "nexus-home"
    home.mkdir(mode=0o700)
    with FakeOAuthServer(access_ttl=TTL_S) as oauth, FakeAnthropic() as anthropic:
        anthropic.accept_token = oauth.accept_token
        (home / "nexus.toml").write_text(
            f'[models]\nprimary = "anthropic/claude-test"\nfallbacks = []\n\n'
            f'[providers.anthropic]\nbase_url = "{anthropic.base_url}"\n'
        )
        grant = oauth.issue()
        store = home / "auth-profiles.json"
        write_store(store, {"anthropic:main": grant.profile_json(token_url=oauth.token_url)})
        token = subprocess.run([NEXUS, "token"], capture_output=True, text=True, env=_env(home), timeout=60)
        gateway, port = _start_gateway(home)
        try:
            _wait_healthy(port, gateway)
            headers = {"authorization": f"Bearer {token.stdout.strip()}"}
            warm = {"model": "nexus", "user": "race", "messages": [{"role": "user", "content": "warm"}]}
            first = httpx.post(
                f"http://127.0.0.1:{port}/v1/chat/completions",
                json=warm,
                headers=headers,
                timeout=60,
                trust_env=False,
            )
            assert first.status_code == 200  # the first turn pays the SDK import; the race starts after it
            until = time.monotonic() + RUN_S
            codes: list[int] = []
            errors: list[str] = []
            loops = [threading.Thread(target=_ask_loop, args=(home, until, codes, errors)) for _ in range(2)]
            for loop in loops:
                loop.start()
            clients: dict[str, object] = {}
            workers = threading.Thread(
                target=lambda: clients.update(
                    result=race(
                        "nexus", 5, seconds=RUN_S, ttl=TTL_S, workdir=tmp_path, store=store, oauth=oauth
                    )
                )
            )
            workers.start()
            statuses: list[int] = []
            with httpx.Client(
                base_url=f"http://127.0.0.1:{port}", headers=headers, trust_env=False
            ) as client:
                n = 0
                while time.monotonic() < until:
                    n += 1
                    body = {
                        "model": "nexus",
                        "user": "race",
                        "messages": [{"role": "user", "content": f"g{n}"}],
                    }
                    r = client.post("/v1/chat/completions", json=body, timeout=30)
                    statuses.append(r.status_code)
                    if r.status_code == 200:
                        assert r.json()["choices"][0]["message"]["content"] == f"echo: g{n}"
                    time.sleep(0.1)
            for thread in [*loops, workers]:
                thread.join(timeout=60)
        finally:
            gateway.terminate()
            try:
                gateway.wait(timeout=15)
            except subprocess.TimeoutExpired:
                gateway.kill()
                gateway.wait(timeout=10)
        result = clients["result"]
        assert oauth.revoked_families == 0 and oauth.stats.reuse_detected == 0
        assert errors == [] and len(codes) >= 2 and set(codes) == {0}  # counts are low on a loaded host
        assert len(statuses) >= 2 and set(statuses) == {200}
        assert result.failed == 0 and result.exit_codes == [0] * 5  # type: ignore[attr-defined]
        # one refresh per lifetime: none spent before it was due (3/4 of the lifetime), none twice
        assert oauth.refreshes >= 5
        assert min(oauth.stats.refresh_ages) >= 0.75 * TTL_S - 0.05
        assert oauth.refreshes <= (time.time() - (grant.expires_at - TTL_S)) / (0.75 * TTL_S) + 1


def test_naive_clients_revoke_the_family(tmp_path: Path) -> None:
    """The control: without the protocol, the first shared expiry kills the login for everyone."""
    result = race("naive", 4, seconds=3.0, ttl=1.0, workdir=tmp_path)
    assert result.revoked_families == 1
    assert result.failed > 0
