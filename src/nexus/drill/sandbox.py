"""A disposable copy of the owner's Nexus to break on purpose: a temporary home, a free port, the
fake model APIs, OAuth endpoint and Telegram from :mod:`nexus.fakes`, and the owner's own
``nexus.toml`` minus everything that could reach the outside or the owner:

- providers point at the fakes; credentials are the sandbox's own (an OAuth login from the fake
  token endpoint plus a long-lived token, so there are two profiles as the docs advise);
- ``[auth] store``, ``[backup]`` and the owner's channels are dropped; one Telegram channel on the
  fake Bot API takes their place;
- ``[alerts] command`` writes to a file in the sandbox (the owner is never paged by a drill), the
  alert timings are shortened (``models_down_after_s`` <= 2 s, ``check_interval_s`` <= 0.5 s) and the
  alert history is emptied before each scenario, so each scenario's alert shows within the drill;
- ``[gateway]``, ``[models]`` and ``[supervisor]`` stay the owner's: the recovery measured is the
  owner's;
- ``[tools] exec = "allow"``: only the fake model asks for tools, and only for what a scenario
  scripts (``tool_crash``: one command in the sandbox's own workspace), so no approval is awaited.

The gateway is driven from outside only: ``nexus up --background`` / ``nexus down`` subprocesses
(``HOME`` and ``NEXUS_HOME`` inside the sandbox), its HTTP API, and the files under ``run/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import tomli_w

from nexus.common import NexusPaths, atomic_write_text
from nexus.errors import NexusError
from nexus.fakes.anthropic_server import FakeAnthropic
from nexus.fakes.oauth_server import FakeOAuthServer, Grant
from nexus.fakes.openai_server import FakeOpenAI
from nexus.fakes.telegram_server import FakeTelegram

ANTHROPIC_KIND = {"anthropic"}
"""Built-in provider names whose API is Anthropic's; every other built-in speaks OpenAI's."""
STATIC_TOKEN = "sk-ant-oat01-drill-long-lived-token"
OPENAI_KEY = "sk-drill-openai-key"
BOT_TOKEN = "4242:drill-bot-token"
OWNER_CHAT = 4242001
OAUTH_PROFILE = "anthropic:drill-oauth"
TOKEN_PROFILE = "anthropic:drill-token"
DROPPED_ENV = (
    "NEXUS_",
    "ANTHROPIC_",
    "OPENAI_",
    "OPENROUTER_",
    "CLAUDE_",
    "LISTEN_",
    "NOTIFY_SOCKET",
    "WATCHDOG_",
)
READY_TIMEOUT_S = 60.0


class SandboxError(NexusError):
    """The sandbox could not be built or started; the message says what to look at."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], Any], *, timeout: float, poll: float = 0.02) -> Any:
    """The first truthy value of ``predicate`` within ``timeout`` seconds, else None."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll)


def sandbox_config(
    owner: Mapping[str, Any], *, port: int, alert_sink: Path, telegram_api: str
) -> dict[str, Any]:
    """Pure: the sandbox's ``nexus.toml`` (as a dict) from the owner's (see the module docstring)."""
    config: dict[str, Any] = {
        key: dict(value) for key, value in owner.items() if key in ("gateway", "models", "supervisor")
    }
    config["gateway"] = {**config.get("gateway", {}), "port": port, "bind": "127.0.0.1"}
    auth = dict(owner.get("auth") or {})
    auth.pop("store", None)
    if auth:
        config["auth"] = auth
    alerts = dict(owner.get("alerts") or {})
    alerts.update(
        command=f"cat >> {shlex.quote(str(alert_sink))}; echo >> {shlex.quote(str(alert_sink))}",
        models_down_after_s=min(float(alerts.get("models_down_after_s", 600.0)), 2.0),
        check_interval_s=min(float(alerts.get("check_interval_s", 60.0)), 0.5),
    )
    config["alerts"] = alerts
    models = config.get("models", {})
    refs = [models.get("primary", "anthropic/claude-opus-4-5"), *models.get("fallbacks", [])]
    if "primary" not in models:
        refs += ["anthropic/claude-3-7-sonnet-latest", "anthropic/claude-3-5-haiku-latest"]
    providers: dict[str, Any] = {}
    for ref in refs:
        name = str(ref).partition("/")[0]
        table = dict((owner.get("providers") or {}).get(name) or {})
        kind = table.get("kind") or ("anthropic" if name in ANTHROPIC_KIND else "openai")
        table.pop("api_key_env", None)
        table.update(kind=kind, base_url="@anthropic" if kind == "anthropic" else "@openai")
        if kind == "openai":
            table["api_key_env"] = "NEXUS_DRILL_OPENAI_KEY"
        providers[name] = table
    config["providers"] = providers
    config["tools"] = {"exec": "allow"}
    config["channels"] = {
        "telegram": {
            "api_base": telegram_api,
            "allow": [OWNER_CHAT],
            "poll_timeout_s": 1,
            "stall_grace_s": 1.0,
            "edit_interval_s": 0.05,
            "request_timeout_s": 5.0,
        }
    }
    return config


def to_toml(data: Mapping[str, Any]) -> str:
    return tomli_w.dumps(dict(data))


class Sandbox:
    """Start with ``with Sandbox(owner_paths) as box:``; every process it starts is stopped on exit."""

    def __init__(self, owner: NexusPaths, *, root: Path | None = None, access_ttl: float = 3600.0) -> None:
        self.owner = owner
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="nexus-drill-")) if root is None else Path(root)
        self.paths = NexusPaths(home=self.root / "home")
        self.alert_sink = self.root / "alerts-sent.jsonl"
        self.port = free_port()
        self.anthropic = FakeAnthropic()
        self.openai = FakeOpenAI()
        self.oauth = FakeOAuthServer(access_ttl=access_ttl)
        self.telegram = FakeTelegram(BOT_TOKEN)
        self.config: dict[str, Any] = {}
        self._http: httpx.Client | None = None
        self.oauth_grant: Grant | None = None
        self.cold_start_s = 0.0
        """From ``nexus up`` to the first answer: what a restart costs at least on this machine now."""

    # ---- life cycle
    def __enter__(self) -> Sandbox:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        for fake in (self.anthropic, self.openai, self.oauth, self.telegram):
            fake.start()
        self.anthropic.accept_token = self._live_credential
        self.openai.accept_token = lambda h: h.get("authorization") == f"Bearer {OPENAI_KEY}"
        self.write_home()
        started = time.monotonic()
        self.up()
        self.warm()
        self.cold_start_s = round(time.monotonic() - started, 3)

    def warm(self) -> None:
        """One answered message before any measurement: the provider SDK loads after READY, and a
        drill measures recovery, not the first start."""
        accepted = self.http().post("/api/messages", json={"session": "drill-warm", "text": "warm up"})
        run_id = accepted.json().get("run_id") if accepted.status_code == 202 else None
        answer = self.http().get(f"/api/runs/{run_id}", params={"wait": 30}, timeout=40.0) if run_id else None
        if answer is None or answer.json().get("status") != "done":
            raise SandboxError(f"the sandbox gateway did not answer a first message: {self.log_tail()}")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.down()
        if self._http is not None:
            self._http.close()
        for stop in (self.anthropic.stop, self.openai.stop, self.oauth.close, self.telegram.stop):
            with contextlib.suppress(Exception):
                stop()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def write_home(self) -> None:
        owner_data: dict[str, Any] = {}
        if self.owner.config_file.exists():
            try:
                owner_data = tomllib.loads(self.owner.config_file.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise SandboxError(
                    f"{self.owner.config_file} is not valid TOML ({exc}); run `nexus doctor`"
                ) from exc
        self.config = sandbox_config(
            owner_data, port=self.port, alert_sink=self.alert_sink, telegram_api=self.telegram.base_url
        )
        text = to_toml(self.config)
        text = text.replace('"@anthropic"', json.dumps(self.anthropic.base_url))
        text = text.replace('"@openai"', json.dumps(self.openai.base_url))
        self.paths.ensure()
        atomic_write_text(self.paths.config_file, text, mode=0o600)
        self.oauth_grant = self.oauth.issue(email="drill@example.com")
        self.write_profiles(self.oauth_grant)
        atomic_write_text(
            self.paths.home / "channels-secrets.json",
            json.dumps({"version": 1, "channels": {"telegram": {"token": BOT_TOKEN}}}),
            mode=0o600,
        )

    def write_profiles(self, grant: Grant) -> None:
        profiles = {
            OAUTH_PROFILE: grant.profile_json(token_url=self.oauth.token_url, email="drill@example.com"),
            TOKEN_PROFILE: {
                "type": "token",
                "provider": "anthropic",
                "token": STATIC_TOKEN,
                "expires": int((time.time() + 365 * 86400) * 1000),
            },
            "openai:drill-key": {"type": "api_key", "provider": "openai", "key": OPENAI_KEY},
        }
        atomic_write_text(
            self.paths.auth_store, json.dumps({"version": 1, "profiles": profiles}, indent=1), mode=0o600
        )

    def _live_credential(self, headers: Mapping[str, str]) -> bool:
        auth = headers.get("authorization", "")
        return auth == f"Bearer {STATIC_TOKEN}" or self.oauth.accept_token(headers)

    # ---- the processes, from outside
    @property
    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED_ENV)}
        env.update(
            HOME=str(self.root),
            NEXUS_HOME=str(self.paths.home),
            NEXUS_LOCK_DIR=str(self.root / "locks"),
            NEXUS_DRILL_OPENAI_KEY=OPENAI_KEY,
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
        )
        return env

    def nexus(self, *args: str, timeout: float = 90.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "nexus", *args],
            env=self.environ,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def up(self) -> None:
        started = self.nexus("up", "--background")
        if started.returncode != 0:
            raise SandboxError(
                f"`nexus up` in the sandbox exited {started.returncode}: {started.stderr[-2000:]}"
            )
        if not wait_for(self.ready, timeout=READY_TIMEOUT_S, poll=0.05):
            raise SandboxError(
                f"the sandbox gateway was not ready within {READY_TIMEOUT_S:.0f}s: {self.log_tail()}"
            )

    def down(self) -> None:
        self.nexus("down", timeout=120)

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for name in ("supervisor.log", "gateway.log"):
            with contextlib.suppress(OSError):
                out += (self.paths.logs / name).read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(out)

    # ---- what it says about itself
    def supervisor_status(self) -> dict[str, Any]:
        """``run/status.json`` (what ``nexus status --json`` reports, without a process per poll)."""
        try:
            data = json.loads((self.paths.run / "status.json").read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def cli_status(self) -> dict[str, Any]:
        done = self.nexus("status", "--json", timeout=30)
        try:
            return dict(json.loads(done.stdout))
        except ValueError:
            return {}

    def gateway_pid(self) -> int | None:
        gw = self.supervisor_status().get("gateway") or {}
        return gw.get("pid") if gw.get("state") == "ready" else None

    def generation(self) -> int:
        return int((self.supervisor_status().get("gateway") or {}).get("generation") or 0)

    def alerts(self) -> list[dict[str, Any]]:
        try:
            data = json.loads((self.paths.run / "alerts.json").read_text())
        except (OSError, ValueError):
            return []
        return [a for a in data.get("recent") or [] if isinstance(a, dict)]

    def alert_since(self, kind: str, since: float) -> dict[str, Any] | None:
        return next(
            (a for a in reversed(self.alerts()) if a.get("kind") == kind and float(a.get("at", 0)) >= since),
            None,
        )

    def forget_alerts(self) -> None:
        """Empty the sandbox's alert history, so a scenario's alert is not held back as a duplicate of
        the previous scenario's (the de-duplication itself is the owner's setting, kept)."""
        doc = {"last_sent": {}, "sent_times": [], "recent": []}
        atomic_write_text(self.paths.run / "alerts.json", json.dumps(doc), mode=0o600)

    @property
    def token(self) -> str:
        return (self.paths.home / "gateway.token").read_text().strip()

    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(
                base_url=f"http://127.0.0.1:{self.port}",
                headers={"Authorization": f"Bearer {self.token}"},
                trust_env=False,
                timeout=httpx.Timeout(30.0, connect=30.0),
            )
        return self._http

    def gateway_status(self) -> dict[str, Any]:
        try:
            answer = self.http().get("/status", timeout=2.0)
            return dict(answer.json()) if answer.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            return {}

    def ready(self) -> bool:
        try:
            if self.http().get("/readyz", timeout=2.0).status_code != 200:
                return False
        except (httpx.HTTPError, OSError):
            return False
        channel = (self.gateway_status().get("channels") or {}).get("telegram") or {}
        return channel.get("state") == "connected"

    def settle_ready(self, *, timeout: float) -> None:
        """Wait until the gateway is ready again (a scenario's recovery may still be under way)."""
        if not wait_for(self.ready, timeout=timeout, poll=0.05):
            raise SandboxError(
                f"the sandbox gateway did not come back within {timeout:.0f}s: {self.log_tail()}"
            )

    def heal(self) -> None:
        """Undo every fault a scenario can leave in the fakes."""
        self.anthropic.reset()
        self.openai.reset()
        self.telegram.stall = False
        self.oauth.fail_next.clear()
