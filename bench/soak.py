"""Soak: a real ``nexus up`` under HTTP, WebSocket and Telegram load with periodic faults, for minutes
or hours; samples RSS, fds, threads and DB size; checks nothing is lost or answered twice.

    make soak                                   # 30 minutes (SOAK_ARGS="--hours 8" for longer)
    .venv-observe/bin/python bench/soak.py --minutes 5 --sample-s 15 --plot docs/soak-rss.png

Load (every ``--interval`` seconds): one ``POST /api/messages``, one WS ``chat.send``, one Telegram
message to the fake Bot API, each with a unique text; HTTP and WS carry an idempotency key and are
resent with the same key whenever the gateway could not be reached (the client contract).
Soft faults, one every ``--fault-every`` seconds in turn: a 429 storm on every model, a provider that
hangs (answers nothing), a Telegram transport that goes silent (half-open long polls). Hard faults at
1/3 and 2/3 of the run: ``kill -9`` of the gateway, then ``SIGSTOP`` past the supervisor's watchdog.
Every ``--sample-s`` the load pauses for a second (so in-flight connections do not count as fds) and
the gateway's RSS, fds, threads and ``state.db`` size are sampled. At the end the faults stop and the
load drains; then: every message must have exactly one final outcome (an answer or an explained
failure): lost = none, duplicate = more than one (two runs for one idempotency key, or two Telegram
replies to one message). Budget: RSS growth <= 10 % after warm-up within a gateway generation, no fd
or thread growth. Exit 1 when a budget is missed. Under ``make bench`` (``NEXUS_BENCH_QUICK=1``) it
runs one minute. Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from nexus.channels.secrets import ChannelSecrets  # noqa: E402
from nexus.common.secret import Secret  # noqa: E402
from nexus.fakes.anthropic_server import Error, FakeAnthropic, Hang  # noqa: E402
from nexus.fakes.telegram_server import FakeTelegram  # noqa: E402

TG_TOKEN = "123456789:" + "s" * 35
CHATS = [20_000 + i for i in range(4)]
RSS_BUDGET = 0.10
SOFT_FAULTS = ("429-storm", "provider-hang", "channel-drop")
HARD_FAULTS = ("kill-9", "sigstop")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sample:
    t: float
    pid: int
    rss_mb: float
    fds: int
    threads: int
    db_mb: float
    sent: int
    fault: str


@dataclass
class Ledger:
    """Every message sent, by door, with what the gateway said about it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    api: dict[str, str] = field(default_factory=dict)
    """idempotency key -> run id (HTTP and WS)."""
    dup_keys: list[str] = field(default_factory=list)
    """keys whose resend got a different run id."""
    telegram: dict[int, str] = field(default_factory=dict)
    """update id -> text."""
    resends: int = 0

    def record(self, key: str, run_id: str) -> None:
        with self.lock:
            old = self.api.setdefault(key, run_id)
            if old != run_id:
                self.dup_keys.append(key)


class Soak:
    def __init__(self, args: argparse.Namespace, home: Path, model: FakeAnthropic, tg: FakeTelegram) -> None:
        self.args = args
        self.home = home
        self.model = model
        self.tg = tg
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ledger = Ledger()
        self.samples: list[Sample] = []
        self.fault = "none"
        self.running = threading.Event()
        self.running.set()
        self.stop = threading.Event()
        self.seq = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.faults: list[tuple[float, str]] = []
        self.started = time.monotonic()
        self._seq_lock = threading.Lock()
        self._ws_pending: tuple[str, str, int] | None = None

    # -- the system under test -------------------------------------------------------------------

    def write_config(self) -> None:
        ChannelSecrets(self.home).set("telegram", Secret(TG_TOKEN))
        self.home.joinpath("nexus.toml").write_text(
            f"[gateway]\nport = {self.port}\n\n"
            '[models]\nprimary = "anthropic/claude-opus-4-5"\nfallbacks = ["anthropic/claude-3-5-haiku-latest"]\n'
            "turn_timeout_s = 20\n\n"
            '[providers.anthropic]\nkind = "anthropic"\nfirst_token_timeout_s = 4\nidle_timeout_s = 4\n\n'
            f'[channels.telegram]\napi_base = "{self.tg.base_url}"\nallow = {json.dumps(CHATS)}\n'
            "poll_timeout_s = 5\nedit_interval_s = 0.5\n"
        )

    def up(self) -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("NEXUS_", "ANTHROPIC_", "OPENAI_", "LISTEN_", "NOTIFY_"))
        }
        env.update(
            NEXUS_HOME=str(self.home), ANTHROPIC_BASE_URL=self.model.base_url, ANTHROPIC_API_KEY="soak-key"
        )
        out = (self.home / "nexus-up.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nexus", "up"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(
                    f"nexus up exited {self.proc.returncode}: {(self.home / 'nexus-up.log').read_text()[-2000:]}"
                )
            with contextlib.suppress(httpx.HTTPError, OSError, KeyError):
                if self.status().get("ready"):
                    return
            time.sleep(0.2)
        last = {}
        with contextlib.suppress(httpx.HTTPError, OSError, KeyError):
            last = self.status()
        log = (self.home / "logs" / "gateway.log").read_text(errors="replace")[-1500:]
        raise SystemExit(f"gateway not ready within 60 s: {last.get('not_ready_reasons')}\n{log}")

    def down(self) -> None:
        """SIGTERM to ``nexus up``: the supervisor stops its gateway in order, then itself."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)  # longer than the supervisor's grace: never orphan its gateway
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    @property
    def token(self) -> str:
        return (self.home / "gateway.token").read_text().strip()

    def status(self, timeout: float = 5) -> dict[str, Any]:
        r = httpx.get(
            f"{self.base}/status", headers={"Authorization": f"Bearer {self.token}"}, timeout=timeout
        )
        r.raise_for_status()
        return r.json()

    def gateway_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, KeyError):
            pid = json.loads((self.home / "run" / "status.json").read_text())["gateway"]["pid"]
            return int(pid) if pid else None
        return None

    # -- load --------------------------------------------------------------------------------------

    def next_text(self, door: str) -> tuple[str, str, int]:
        with self._seq_lock:
            self.seq += 1
            n = self.seq
        return f"soak-{door}-{n}", f"{door}-{n}", n

    def http_loop(self) -> None:
        with httpx.Client(base_url=self.base, timeout=10) as client:
            while not self.stop.is_set():
                self.running.wait()
                text, key, n = self.next_text("http")
                session = f"soak-http-{n // 200}"
                body = {"session": session, "text": text, "idempotency_key": key}
                self._until_accepted(functools.partial(self._post, client, body), key)
                self.stop.wait(self.args.interval)

    def _post(self, client: httpx.Client, body: dict[str, str]) -> httpx.Response:
        return client.post("/api/messages", json=body, headers={"Authorization": f"Bearer {self.token}"})

    def _until_accepted(self, send: Any, key: str) -> None:
        first = True
        while not self.stop.is_set() or first:
            try:
                r = send()
                if r.status_code == 202:
                    self.ledger.record(key, r.json()["run_id"])
                    return
            except (httpx.HTTPError, OSError):
                pass
            first = False
            with self.ledger.lock:
                self.ledger.resends += 1
            time.sleep(0.5)

    def ws_loop(self) -> None:
        while not self.stop.is_set():
            try:
                with connect(f"ws://127.0.0.1:{self.port}/ws", open_timeout=10) as ws:
                    hello = {"protocol": 1, "token": self.token}
                    ws.send(json.dumps({"type": "req", "id": "c", "method": "connect", "params": hello}))
                    self._ws_reply(ws, "c")
                    self._ws_session(ws)
            except Exception:
                if self._ws_pending is not None:
                    with self.ledger.lock:
                        self.ledger.resends += 1
                time.sleep(0.5)

    def _ws_session(self, ws: Any) -> None:
        """Send on one connection until it breaks; a message whose reply was lost is resent (same key)."""
        while not self.stop.is_set():
            self.running.wait()
            text, key, n = self._ws_pending or self.next_text("ws")
            self._ws_pending = (text, key, n)
            params = {"session": f"soak-ws-{n // 200}", "text": text, "idempotency_key": key}
            ws.send(json.dumps({"type": "req", "id": key, "method": "chat.send", "params": params}))
            reply = self._ws_reply(ws, key)
            if reply.get("ok"):
                self.ledger.record(key, reply["payload"]["run_id"])
                self._ws_pending = None
            else:
                with self.ledger.lock:
                    self.ledger.resends += 1
            self.stop.wait(self.args.interval)

    @staticmethod
    def _ws_reply(ws: Any, frame_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            frame = json.loads(ws.recv(timeout=15))
            if frame.get("type") == "res" and frame.get("id") == frame_id:
                return frame
        raise TimeoutError("no reply")

    def telegram_loop(self) -> None:
        while not self.stop.is_set():
            self.running.wait()
            text, _, n = self.next_text("tg")
            update = self.tg.push_message(chat_id=CHATS[n % len(CHATS)], text=text)
            with self.ledger.lock:
                self.ledger.telegram[update] = text
            self.stop.wait(self.args.interval)

    # -- faults ------------------------------------------------------------------------------------

    def soft_fault(self, kind: str, seconds: float) -> None:
        self.fault = kind
        self.faults.append((time.monotonic(), kind))
        if kind == "429-storm":
            self.model.always(None, Error(429, retry_after=1))
        elif kind == "provider-hang":
            self.model.always(None, Hang())
        elif kind == "channel-drop":
            self.tg.stall = True
        self.stop.wait(seconds)
        self.model.always(None, None)
        self.tg.stall = False
        self.fault = "none"

    def hard_fault(self, kind: str) -> None:
        pid = self.gateway_pid()
        if pid is None:
            return
        self.fault = kind
        self.faults.append((time.monotonic(), kind))
        if kind == "kill-9":
            os.kill(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGSTOP)  # a wedge: the supervisor's watchdog must notice and restart
            self.stop.wait(self.args.stop_s)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not self.stop.is_set():
            with contextlib.suppress(httpx.HTTPError, OSError):
                # the next generation answers (ready may lag while a storm's cooldowns run out)
                if self.gateway_pid() not in (None, pid) and self.status(timeout=2):
                    break
            time.sleep(0.2)
        self.fault = "none"

    # -- sampling ----------------------------------------------------------------------------------

    def sample(self, started: float) -> None:
        self.running.clear()  # quiet: in-flight requests must not count as fds
        time.sleep(1.0)
        try:
            pid = self.gateway_pid()
            if pid is None:
                return
            proc = psutil.Process(pid)
            with proc.oneshot():
                rss, fds, threads = proc.memory_info().rss, proc.num_fds(), proc.num_threads()
        except (psutil.Error, OSError):
            return
        finally:
            self.running.set()
        db = sum(p.stat().st_size for p in self.home.glob("state.db*") if p.is_file())
        self.samples.append(
            Sample(
                t=time.monotonic() - started,
                pid=pid,
                rss_mb=rss / 2**20,
                fds=fds,
                threads=threads,
                db_mb=db / 2**20,
                sent=len(self.ledger.api) + len(self.ledger.telegram),
                fault=self.fault,
            )
        )
        s = self.samples[-1]
        print(
            f"  {s.t / 60:6.1f} min  pid {s.pid:>7}  rss {s.rss_mb:6.1f} MB  fds {s.fds:3}  threads {s.threads:3}  db {s.db_mb:6.2f} MB  sent {s.sent:5}  {s.fault}",
            flush=True,
        )

    # -- the run -----------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        self.write_config()
        self.up()
        total = self.args.seconds
        started = self.started = time.monotonic()
        loaders = [
            threading.Thread(target=f, daemon=True)
            for f in (self.http_loop, self.ws_loop, self.telegram_loop)
        ]
        for t in loaders:
            t.start()
        chosen = self.args.faults.split(",") if self.args.faults else []
        soft = [f for f in SOFT_FAULTS if f in chosen]
        hard = [f for f in HARD_FAULTS if f in chosen]
        hard_at = {total * (i + 1) / (len(hard) + 1): kind for i, kind in enumerate(hard)}
        next_sample = 0.0
        next_fault = self.args.fault_every
        faults_done = 0
        faulter: threading.Thread | None = None
        while (elapsed := time.monotonic() - started) < total:
            if elapsed >= next_sample:
                self.sample(started)
                next_sample += self.args.sample_s
            for at, kind in list(hard_at.items()):
                if elapsed >= at and (faulter is None or not faulter.is_alive()):
                    del hard_at[at]
                    faulter = threading.Thread(target=self.hard_fault, args=(kind,), daemon=True)
                    faulter.start()
            if soft and elapsed >= next_fault and (faulter is None or not faulter.is_alive()):
                kind = soft[faults_done % len(soft)]
                faults_done += 1
                faulter = threading.Thread(
                    target=self.soft_fault, args=(kind, self.args.fault_s), daemon=True
                )
                faulter.start()
                next_fault += self.args.fault_every
            time.sleep(0.2)
        self.stop.set()
        self.running.set()
        for t in loaders:
            t.join(60)
        if faulter is not None:
            faulter.join(90)
        self.model.always(None, None)
        self.tg.stall = False
        self.sample(started)
        outcome = self.drain()
        self.down()
        return outcome

    def drain(self, timeout: float = 180.0) -> dict[str, Any]:
        """Wait until every accepted message has its outcome; then count lost and duplicates."""
        deadline = time.monotonic() + timeout
        headers = {"Authorization": f"Bearer {self.token}"}
        pending_api = dict(self.ledger.api)
        outcomes: dict[str, int] = {}
        reasons: dict[str, int] = {}
        with httpx.Client(base_url=self.base, headers=headers, timeout=30) as client:
            while pending_api and time.monotonic() < deadline:
                for key, run_id in list(pending_api.items()):
                    with contextlib.suppress(httpx.HTTPError):
                        run = client.get(f"/api/runs/{run_id}").json()
                        if run.get("status") in ("done", "failed"):
                            outcomes[run["status"]] = outcomes.get(run["status"], 0) + 1
                            if run["status"] == "failed":
                                why = str(run.get("error") or "")[:48]
                                reasons[why] = reasons.get(why, 0) + 1
                            del pending_api[key]
                if pending_api:
                    time.sleep(1)
            # duplicates behind the keys: one run per text in each session's history
            texts: dict[str, int] = {}
            sessions = {f"soak-{door}-{i}" for door in ("http", "ws") for i in range(self.seq // 200 + 1)}
            for session in sessions:
                with contextlib.suppress(httpx.HTTPError):
                    for run in client.get(f"/api/sessions/{session}/history", params={"limit": 500}).json()[
                        "runs"
                    ]:
                        texts[run["message"]] = texts.get(run["message"], 0) + 1
        tg_answers: dict[int, int] = {}

        def replies() -> dict[int, int]:
            by_msg = {}
            for m in self.tg.sent():
                by_msg[(m.chat_id, m.reply_to)] = by_msg.get((m.chat_id, m.reply_to), 0) + 1
            return {u: by_msg.get(self.tg.message_of[u], 0) for u in self.ledger.telegram}

        while time.monotonic() < deadline:
            tg_answers = replies()
            if all(n >= 1 for n in tg_answers.values()):
                break
            time.sleep(1)
        tg_answers = replies()
        return {
            "api_sent": len(self.ledger.api),
            "api_outcomes": outcomes,
            "api_failed_because": dict(sorted(reasons.items(), key=lambda kv: -kv[1])[:4]),
            "api_lost": len(pending_api),
            "api_duplicates": len(self.ledger.dup_keys) + sum(1 for n in texts.values() if n > 1),
            "telegram_sent": len(self.ledger.telegram),
            "telegram_lost": sum(1 for n in tg_answers.values() if n == 0),
            "telegram_duplicates": sum(1 for n in tg_answers.values() if n > 1),
            "resends": self.ledger.resends,
            "faults": [k for _, k in self.faults],
            "generations": len({s.pid for s in self.samples}),
        }


def growth(samples: list[Sample], warmup_s: float) -> dict[str, Any]:
    """Per gateway generation (a restart starts from scratch): first sample after its warm-up vs the
    median of its last three; the worst generation with at least three samples after warm-up."""
    worst: dict[str, Any] = {"rss_pct": None, "fds": None, "threads": None, "pid": None}
    by_pid: dict[int, list[Sample]] = {}
    for s in samples:
        by_pid.setdefault(s.pid, []).append(s)
    for pid, gen in by_pid.items():
        start = gen[0].t
        steady = [s for s in gen if s.t - start >= warmup_s]
        if len(steady) < 3:
            continue
        tail = steady[-3:]
        rss = (statistics.median(s.rss_mb for s in tail) - steady[0].rss_mb) / steady[0].rss_mb
        fds = statistics.median(s.fds for s in tail) - steady[0].fds
        threads = statistics.median(s.threads for s in tail) - steady[0].threads
        if worst["rss_pct"] is None or rss > worst["rss_pct"] / 100:
            worst = {
                "rss_pct": round(rss * 100, 1),
                "fds": fds,
                "threads": threads,
                "pid": pid,
                "samples": len(steady),
            }
    return worst


def plot(samples: list[Sample], faults: list[float], path: Path, title: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed here: no plot; `make soak` installs it into .venv-observe)")
        return False
    fig, ax = plt.subplots(figsize=(8, 3.5))
    by_pid: dict[int, list[Sample]] = {}
    for s in samples:
        by_pid.setdefault(s.pid, []).append(s)
    for i, (pid, gen) in enumerate(by_pid.items()):
        ax.plot(
            [s.t / 60 for s in gen],
            [s.rss_mb for s in gen],
            marker="o",
            markersize=3,
            label=f"generation {i + 1} (pid {pid})",
        )
    for t in faults:
        ax.axvline(t / 60, color="grey", alpha=0.3, linewidth=1)
    ax.set_xlabel("minutes (grey: faults)")
    ax.set_ylabel("gateway RSS (MB)")
    ax.set_title(title)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    quick = bool(os.environ.get("NEXUS_BENCH_QUICK"))
    parser.add_argument("--minutes", type=float, default=1.0 if quick else 30.0)
    parser.add_argument("--hours", type=float, default=None)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between messages on each door")
    parser.add_argument("--sample-s", type=float, default=10.0 if quick else 60.0)
    parser.add_argument(
        "--warmup-s", type=float, default=None, help="default: 1/10 of the run, 20 s to 5 min"
    )
    parser.add_argument("--fault-every", type=float, default=20.0 if quick else 60.0)
    parser.add_argument(
        "--fault-s", type=float, default=8.0 if quick else 20.0, help="length of a soft fault"
    )
    parser.add_argument("--stop-s", type=float, default=8.0, help="how long SIGSTOP lasts (watchdog: 5 s)")
    parser.add_argument(
        "--faults",
        default=",".join(SOFT_FAULTS + HARD_FAULTS),
        help=f"comma list of {', '.join(SOFT_FAULTS + HARD_FAULTS)} (default: all; '' for none)",
    )
    parser.add_argument("--plot", type=Path, default=ROOT / "bench" / "soak-rss.png")
    args = parser.parse_args()
    args.seconds = (args.hours * 3600) if args.hours else args.minutes * 60
    warmup = args.warmup_s if args.warmup_s is not None else min(max(args.seconds / 10, 20.0), 300.0)
    print(
        f"soak: {args.seconds / 60:.1f} min, a message per door every {args.interval:g}s, warm-up {warmup:.0f}s",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp, FakeAnthropic() as model, FakeTelegram(TG_TOKEN) as tg:
        home = Path(tmp) / "home"
        home.mkdir()
        soak = Soak(args, home, model, tg)
        try:
            outcome = soak.run()
        finally:
            soak.down()
    worst = growth(soak.samples, warmup)
    print("\n| minute | pid | RSS MB | fds | threads | state.db MB | messages sent | fault |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for s in soak.samples:
        print(
            f"| {s.t / 60:.1f} | {s.pid} | {s.rss_mb:.1f} | {s.fds} | {s.threads} | {s.db_mb:.2f} | {s.sent} | {s.fault} |"
        )
    print("\n" + json.dumps({**outcome, "worst_generation_after_warmup": worst}, indent=1))
    drew = plot(
        soak.samples,
        [t - soak.started for t, _ in soak.faults],
        args.plot,
        f"gateway RSS, {args.seconds / 60:.0f}-minute soak",
    )
    if drew:
        print(f"plot: {args.plot}")
    ok = (
        outcome["api_lost"] == 0
        and outcome["telegram_lost"] == 0
        and outcome["api_duplicates"] == 0
        and outcome["telegram_duplicates"] == 0
        and (worst["rss_pct"] is None or worst["rss_pct"] <= RSS_BUDGET * 100)
        and (worst["fds"] is None or worst["fds"] <= 0)
        and (worst["threads"] is None or worst["threads"] <= 0)
    )
    print(
        "budget:",
        "met" if ok else "MISSED",
        "(no generation long enough to judge growth)" if worst["rss_pct"] is None else "",
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
