"""Steady traffic through the sandbox while a fault is injected, and the accounting of what became of
every message: refused connections, messages lost (never accepted, or accepted and never finished),
messages answered twice (two runs for one message), and when each was answered.

A message is sent the way a careful client sends it: with an idempotency key, and re-sent with the
same key after a connection error, so a retry can never make a second answer unless the gateway
breaks its promise.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from nexus.drill.sandbox import Sandbox, wait_for

INTERVAL_S = 0.1
RESEND_FOR_S = 60.0
SESSIONS = 3


@dataclass
class Sent:
    key: str
    session: str
    text: str
    sent_at: float
    """Epoch seconds of the first attempt."""
    run_id: str | None = None
    attempts: int = 0
    refused: int = 0
    final: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Tally:
    sent: int
    refused: int
    lost: int
    duplicated: int
    failed: int
    """Runs that ended with an explained failure (not lost: the sender was told why)."""
    answered_at: list[tuple[float, float]]
    """(sent_at, finished_at) of every answered message, epoch seconds."""


def first_answer_after(tally: Tally, moment: float) -> float | None:
    """Pure: seconds from ``moment`` until the first message sent at or after it was answered."""
    times = [done for sent, done in tally.answered_at if sent >= moment]
    return round(min(times) - moment, 3) if times else None


class Traffic:
    """One message every ``interval_s`` across a few sessions, in a thread, until ``stop()``."""

    def __init__(self, box: Sandbox, *, interval_s: float = INTERVAL_S, label: str = "drill") -> None:
        self.box = box
        self.interval_s = interval_s
        self.label = f"{label}-{uuid.uuid4().hex[:6]}"
        self.messages: list[Sent] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"traffic-{label}", daemon=True)
        self._lock = threading.Lock()

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(RESEND_FOR_S + 10)

    def _run(self) -> None:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{self.box.port}",
            headers={"Authorization": f"Bearer {self.box.token}"},
            trust_env=False,
            timeout=httpx.Timeout(30.0, connect=30.0),
        ) as client:
            n = 0
            while not self._stop.is_set():
                n += 1
                msg = Sent(
                    f"{self.label}-{n}",
                    f"{self.label}-s{n % SESSIONS}",
                    f"{self.label} message {n}",
                    time.time(),
                )
                with self._lock:
                    self.messages.append(msg)
                self._deliver(client, msg)
                self._stop.wait(self.interval_s)

    def _deliver(self, client: httpx.Client, msg: Sent) -> None:
        deadline = time.monotonic() + RESEND_FOR_S
        body = {"session": msg.session, "text": msg.text, "idempotency_key": msg.key}
        while time.monotonic() < deadline:
            msg.attempts += 1
            try:
                answer = client.post("/api/messages", json=body)
            except httpx.ConnectError:
                msg.refused += 1  # the kernel said no: nobody held the port
                time.sleep(0.05)
                continue
            except httpx.TransportError:
                time.sleep(0.05)  # accepted, then dropped (the process died): resend, same key
                continue
            if answer.status_code == 202:
                msg.run_id = answer.json().get("run_id")
                return
            time.sleep(0.05)  # 503 while starting: resend, same key

    def wait_answered_after(self, since: float, *, timeout: float) -> bool:
        """Bounded: has a message sent at or after ``since`` been answered yet? (Polls its run.)"""
        client = self.box.http()

        def answered() -> bool:
            with self._lock:
                candidates = [m for m in self.messages if m.sent_at >= since and m.run_id]
            for msg in candidates[:20]:
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    run = client.get(f"/api/runs/{msg.run_id}", timeout=5.0).json()
                    if run.get("status") == "done":
                        return True
            return False

        return bool(wait_for(answered, timeout=timeout, poll=0.1))

    def settle(self, *, timeout: float = 60.0) -> Tally:
        """Stop sending, wait (bounded) for every accepted run to finish, and count."""
        self.stop()
        client = self.box.http()
        pending = [m for m in self.messages if m.run_id]

        def finished() -> bool:
            for msg in pending:
                if msg.final.get("status") in ("done", "failed"):
                    continue
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    answer = client.get(f"/api/runs/{msg.run_id}", timeout=5.0)
                    if answer.status_code == 200:
                        msg.final = answer.json()
                if msg.final.get("status") not in ("done", "failed"):
                    return False
            return True

        wait_for(finished, timeout=timeout, poll=0.1)
        duplicated = 0
        for session in {m.session for m in self.messages}:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                answer = client.get(f"/api/sessions/{session}/history", params={"limit": 500}, timeout=10.0)
                texts = [r.get("message") or r.get("text") for r in answer.json().get("runs", [])]
                mine = [m.text for m in self.messages if m.session == session]
                duplicated += sum(max(0, texts.count(t) - 1) for t in mine)
        lost = sum(1 for m in self.messages if m.final.get("status") not in ("done", "failed"))
        return Tally(
            sent=len(self.messages),
            refused=sum(m.refused for m in self.messages),
            lost=lost,
            duplicated=duplicated,
            failed=sum(1 for m in self.messages if m.final.get("status") == "failed"),
            answered_at=[
                (m.sent_at, float(m.final["finished_at"]))
                for m in self.messages
                if m.final.get("status") == "done" and m.final.get("finished_at")
            ],
        )
