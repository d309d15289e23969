"""Recovery benchmark: Nexus's supervisor vs supervisord and circus, side by side on this machine.

    .venv/bin/python bench/recovery.py [--rounds 10] [--quick] [--only nexus,supervisord,circus]

Scenarios (each with the same tiny HTTP child, tests/supervisor/tiny_child.py; crash and hang also with
the real gateway, ``python -m nexus gateway run``, probed on ``GET /status`` with its token):
    repeat     kill -9 of the child every 1.2-2.0 s (seeded), 8 times, polled every 5 ms: how long until
               it answers again after each kill, how often it was still down at the next kill, refusals
    crash      kill -9 of the child, ready 1.2 s -> first 200 (median of N), refused connections
    hang       SIGSTOP of the child -> first 200 again (or "never" within the bound)
    orphan     a setsid + double-forked grandchild keeps the socket; kill -9 the child -> 200, or never
    loop       a child that exits 1 at once: starts seen in a window, steady rate, final state
supervisord 4.3.0 and circus 0.19.0 are installed into ``.venv-bench`` by this script (pins from the
``bench`` extra in pyproject.toml), never into the project venv. Every request goes to 127.0.0.1.

Settings, the same for all where they exist: children restart automatically; Nexus runs with its
defaults (``nexus up`` for the gateway, ``nexus supervise --name bench --notify --health-url`` for the
tiny child); supervisord with ``autorestart=true``; circus with its defaults plus ``copy_env`` (so its child sees the same
``NEXUS_HOME`` and gateway token). Nothing else is tuned.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import secrets
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "supervisor" / "tiny_child.py"
BENCH_VENV = ROOT / ".venv-bench"
PY = sys.executable
NEVER_AFTER_S = 15.0
TOKEN = secrets.token_urlsafe(24)
"""The gateway's token (NEXUS_GATEWAY_TOKEN) for this run: /status needs it."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthz(port: int, timeout: float, path: str = "/healthz") -> str:
    """'ok', 'refused' or 'no' (timeout, reset, not 200) for one GET ``path`` on 127.0.0.1."""
    auth = f"Authorization: Bearer {TOKEN}\r\n" if path == "/status" else ""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            conn.sendall(request.encode())
            head = conn.recv(64)
    except ConnectionRefusedError:
        return "refused"
    except OSError:
        return "no"
    return "ok" if head.startswith(b"HTTP/1.1 200") or head.startswith(b"HTTP/1.0 200") else "no"


def until_answered(
    port: int, *, limit: float, step_timeout: float = 1.0, path: str = "/healthz", poll: float = 0.002
) -> tuple[float | None, int]:
    """Seconds until ``path`` answers 200 (None: not within ``limit``) and connections refused meanwhile."""
    start = time.monotonic()
    refused = 0
    while time.monotonic() - start < limit:
        result = healthz(port, min(step_timeout, max(0.05, limit - (time.monotonic() - start))), path)
        if result == "ok":
            return time.monotonic() - start, refused
        if result == "refused":
            refused += 1
        time.sleep(poll)
    return None, refused


def wait_for(predicate: Callable[[], object], limit: float) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def kill_pid(pid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def bench_venv() -> Path:
    """Create ``.venv-bench`` with the pinned supervisord and circus (once)."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["bench"]
    marker = BENCH_VENV / ".installed"
    if not marker.exists() or marker.read_text() != "\n".join(extras):
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        subprocess.run([str(BENCH_VENV / "bin" / "pip"), "install", "-q", *extras], check=True)
        marker.write_text("\n".join(extras))
    return BENCH_VENV / "bin"


class Subject:
    """One process manager running one child command."""

    name = ""

    def __init__(self, workdir: Path, port: int, argv: list[str], pidfile: Path | None) -> None:
        self.dir = workdir
        self.port = port
        self.argv = argv
        self.pidfile = pidfile
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = dict(
            os.environ,
            NEXUS_HOME=str(workdir / "home"),
            NEXUS_PORT=str(port),
            NEXUS_GATEWAY_TOKEN=TOKEN,
            BENCH_DIR=str(workdir),
        )
        for key in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID"):
            self.env.pop(key, None)

    def start(self) -> None:
        raise NotImplementedError

    def _child_argv(self) -> list[str]:
        """For managers that do not hand over a socket: the child binds the port itself."""
        if self.argv[:1] == ["gateway"]:
            return [PY, "-m", "nexus", "gateway", "run", "--port", str(self.port)]
        return [*self.argv, "--port", str(self.port)]

    def final_state(self) -> str:
        return ""

    def child_pid(self) -> int | None:
        """The current child: from its pidfile, else the process listening on the port (not the manager)."""
        if self.pidfile is not None:
            with contextlib.suppress(OSError, ValueError, IndexError):
                pid = int(self.pidfile.read_text().split()[0])
                return pid if psutil.pid_exists(pid) else None
            return None
        manager = self.proc.pid if self.proc else -1
        for conn in psutil.net_connections("tcp"):
            if (
                conn.status == psutil.CONN_LISTEN
                and conn.laddr.port == self.port
                and conn.pid not in (None, manager)
            ):
                return conn.pid
        return None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.cleanup()

    def cleanup(self) -> None:
        """Kill whatever the manager left (by pid: processes whose environment names our work dir)."""
        mine = str(self.dir)
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if proc.environ().get("BENCH_DIR") == mine:
                    proc.kill()


class Nexus(Subject):
    name = "nexus"

    def start(self) -> None:
        (self.dir / "home").mkdir(parents=True, exist_ok=True)
        if self.argv[:1] == ["gateway"]:
            cmd = [PY, "-m", "nexus", "up"]
        else:
            cmd = [PY, "-m", "nexus", "supervise", "--name", "bench", "--port", str(self.port), "--notify"]
            cmd += ["--health-url", f"http://127.0.0.1:{self.port}/healthz", "--", *self.argv]
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _status(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the status document, its supervised-process part): the gateway's, or supervisor bench's."""
        gateway = self.argv[:1] == ["gateway"]
        run = self.dir / "home" / "run"
        path = run / "status.json" if gateway else run / "supervise" / "bench" / "status.json"
        doc = json.loads(path.read_text())
        return doc, doc["gateway" if gateway else "child"]

    def child_pid(self) -> int | None:
        if self.argv[:1] != ["gateway"]:
            return super().child_pid()
        try:
            return self._status()[1]["pid"]
        except (OSError, ValueError, KeyError):
            return None

    def final_state(self) -> str:
        try:
            status, child = self._status()
        except (OSError, ValueError, KeyError):
            return "?"
        last = child.get("last_exit") or {}
        state = f"{status['supervisor']['state']} (last cause: {last.get('cause')})"
        if status["supervisor"].get("next_start_at"):
            state += f", next start in {status['supervisor']['next_start_at'] - status['updated_at']:.0f}s"
        return state


class Supervisord(Subject):
    name = "supervisord"

    def start(self) -> None:
        bin_dir = bench_venv()
        conf = self.dir / "supervisord.conf"
        command = shlex.join(self._child_argv())
        conf.write_text(
            f"[supervisord]\nnodaemon=true\nlogfile={self.dir}/supervisord.log\npidfile={self.dir}/sd.pid\n"
            f"[unix_http_server]\nfile={self.dir}/sd.sock\n"
            "[rpcinterface:supervisor]\n"
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
            f"[supervisorctl]\nserverurl=unix://{self.dir}/sd.sock\n"
            f"[program:child]\ncommand={command}\nautorestart=true\n"
        )
        self.ctl = [str(bin_dir / "supervisorctl"), "-c", str(conf)]
        self.proc = subprocess.Popen(
            [str(bin_dir / "supervisord"), "-c", str(conf)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def final_state(self) -> str:
        out = subprocess.run([*self.ctl, "status"], capture_output=True, text=True, timeout=10, env=self.env)
        return " ".join(out.stdout.split()[:2])


class Circus(Subject):
    name = "circus"

    def start(self) -> None:
        bin_dir = bench_venv()
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        conf = self.dir / "circus.ini"
        argv = self._child_argv()
        conf.write_text(
            f"[circus]\nendpoint = {self.endpoint}\npubsub_endpoint = tcp://127.0.0.1:{free_port()}\n"
            "statsd = False\n"
            f"[watcher:child]\ncmd = {argv[0]}\nargs = {shlex.join(argv[1:])}\nnumprocesses = 1\n"
            "copy_env = True\n"  # the same NEXUS_HOME and token as the others (circus starts from none)
        )
        self.ctl = [str(bin_dir / "circusctl"), "--endpoint", self.endpoint]
        self.proc = subprocess.Popen(
            [str(bin_dir / "circusd"), str(conf)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def final_state(self) -> str:
        out = subprocess.run([*self.ctl, "status"], capture_output=True, text=True, timeout=10, env=self.env)
        return " ".join(out.stdout.split())


SUBJECTS: dict[str, type[Subject]] = {"nexus": Nexus, "supervisord": Supervisord, "circus": Circus}


def running(
    kind: type[Subject], argv: list[str], *, pidfile: bool = True
) -> contextlib.AbstractContextManager[Subject]:
    @contextlib.contextmanager
    def manage() -> Any:
        with tempfile.TemporaryDirectory(prefix=f"bench-{kind.name}-") as tmp:
            work = Path(tmp)
            pf = work / "child.pids" if pidfile else None
            full = [*argv, "--pidfile", str(pf)] if pf is not None else argv
            subject = kind(work, free_port(), full, pf)
            subject.start()
            try:
                yield subject
            finally:
                subject.stop()

    return manage()


def probe_path(subject: Subject) -> str:
    return "/status" if subject.argv[:1] == ["gateway"] else "/healthz"


def ready(subject: Subject, limit: float = 30.0) -> int:
    """Wait until the child answers; return its pid."""
    path = probe_path(subject)
    if not wait_for(lambda: subject.child_pid() and healthz(subject.port, 1.0, path) == "ok", limit):
        raise RuntimeError(f"{subject.name}: the child never answered on port {subject.port}")
    pid = subject.child_pid()
    assert pid is not None
    return pid


def crash(kind: type[Subject], argv: list[str], rounds: int, *, pidfile: bool = True) -> str:
    times: list[float] = []
    refused: list[int] = []
    with running(kind, argv, pidfile=pidfile) as subject:
        for _ in range(rounds):
            pid = ready(subject)
            time.sleep(1.2)  # ready longer than ready_uptime_s (Nexus) and startsecs (supervisord)
            if subject.pidfile is not None:
                subject.pidfile.unlink(missing_ok=True)
            kill_pid(pid)
            took, n = until_answered(subject.port, limit=NEVER_AFTER_S, path=probe_path(subject))
            if took is None:
                return f"never within {NEVER_AFTER_S:.0f}s"
            wait_for(lambda p=pid: subject.child_pid() not in (None, p), 10.0)
            times.append(took)
            refused.append(n)
    return (
        f"median {statistics.median(times):.3f}s (min {min(times):.3f}, max {max(times):.3f}, n={len(times)}); "
        f"refused per crash: median {statistics.median(refused):.0f}, max {max(refused)}"
    )


def repeated_kill(kind: type[Subject], kills: int = 8, seed: int = 16) -> str:
    """The issue's run: kill -9 every 1.2-2.0 s whatever the state, poll every 5 ms in between."""
    rng = random.Random(seed)
    back: list[float] = []
    down = refused = 0
    with running(kind, [PY, str(TINY)]) as subject:
        ready(subject)
        next_kill = time.monotonic() + rng.uniform(1.2, 2.0)
        for i in range(kills):
            time.sleep(max(0.0, next_kill - time.monotonic()))
            pid = subject.child_pid()
            killed = time.monotonic()
            if subject.pidfile is not None:
                subject.pidfile.unlink(missing_ok=True)
            if pid is not None:
                kill_pid(pid)
            next_kill = killed + (rng.uniform(1.2, 2.0) if i < kills - 1 else 2.0)
            took, n = until_answered(subject.port, limit=next_kill - killed, step_timeout=0.5, poll=0.005)
            refused += n
            if took is None or pid is None:
                down += 1
            else:
                back.append(took)
                wait_for(
                    lambda p=pid: subject.child_pid() not in (None, p),
                    max(0.05, next_kill - time.monotonic()),
                )
    answered = (
        f"median {statistics.median(back):.3f}s (max {max(back):.3f}), " if back else "never answered, "
    )
    return f"back after each kill: {answered}left down {down}/{kills}; refused {refused}"


def hang(kind: type[Subject], argv: list[str] | None = None, *, pidfile: bool = True) -> str:
    with running(kind, argv or [PY, str(TINY)], pidfile=pidfile) as subject:
        pid = ready(subject)
        time.sleep(1.2)
        kill_pid(pid, signal.SIGSTOP)
        took, _ = until_answered(
            subject.port, limit=NEVER_AFTER_S, step_timeout=0.5, path=probe_path(subject)
        )
        kill_pid(pid)
        return f"{took:.2f}s" if took is not None else f"never within {NEVER_AFTER_S:.0f}s"


def orphan(kind: type[Subject]) -> str:
    with running(kind, [PY, str(TINY), "--escape-holder"]) as subject:
        pid = ready(subject)
        assert subject.pidfile is not None
        holder = int(subject.pidfile.read_text().split()[1])
        time.sleep(1.2)
        subject.pidfile.unlink()
        kill_pid(pid)
        took, _ = until_answered(subject.port, limit=NEVER_AFTER_S, step_timeout=0.5)
        holder_killed = (
            not psutil.pid_exists(holder) or psutil.Process(holder).status() == psutil.STATUS_ZOMBIE
        )
        kill_pid(holder)
        result = f"{took:.2f}s" if took is not None else f"never within {NEVER_AFTER_S:.0f}s"
        return f"{result}; orphan killed by the manager: {'yes' if holder_killed else 'no'}"


def crash_loop(kind: type[Subject], window: float) -> str:
    with tempfile.TemporaryDirectory(prefix="bench-loop-") as tmp:
        counter = Path(tmp) / "starts"
        code = f"open({str(counter)!r}, 'a').write('x'); raise SystemExit(1)"
        with running(kind, [PY, "-c", code], pidfile=False) as subject:
            time.sleep(window / 2)
            half = len(counter.read_text()) if counter.exists() else 0
            time.sleep(window / 2)
            total = len(counter.read_text()) if counter.exists() else 0
            state = subject.final_state()
        steady = (total - half) * 3600.0 / (window / 2)
        return f"{total} starts in {window:.0f}s, second half at {steady:.0f}/h; state: {state}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="3 rounds, short crash-loop window")
    parser.add_argument("--only", default="nexus,supervisord,circus")
    parser.add_argument("--loop-window", type=float, default=20.0)
    parser.add_argument(
        "--scenarios",
        default="",
        help="comma list of repeat, crash-tiny, crash-gateway, hang, hang-gateway, orphan, loop (default: all)",
    )
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    window = 8.0 if args.quick else args.loop_window
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(names) - set(SUBJECTS)
    if unknown:
        parser.error(f"--only: unknown {', '.join(sorted(unknown))}; choose from {', '.join(SUBJECTS)}")
    if any(n != "nexus" for n in names):
        bench_venv()
    print(f"machine: {os.cpu_count()} cores, {sys.platform}; rounds={rounds}")
    scenarios: list[tuple[str, Callable[[type[Subject]], str]]] = [
        ("repeat: kill -9 of a tiny child every 1.2-2.0 s, 8 times, polled every 5 ms", repeated_kill),
        ("crash-tiny: kill -9 of a tiny child", lambda k: crash(k, [PY, str(TINY)], rounds)),
        (
            "crash-gateway: kill -9 of the real gateway (answering GET /status)",
            lambda k: crash(k, ["gateway"], rounds, pidfile=False),
        ),
        ("hang: SIGSTOP of the child", hang),
        ("hang-gateway: SIGSTOP of the real gateway", lambda k: hang(k, ["gateway"], pidfile=False)),
        ("orphan: a double-forked grandchild holds the port", orphan),
        ("loop: a child that exits 1 at once", lambda k: crash_loop(k, window)),
    ]
    wanted = [w.strip() for w in args.scenarios.split(",") if w.strip()]
    for title, run in scenarios:
        if wanted and title.split(":")[0] not in wanted:
            continue
        print(f"\n== {title}")
        for name in names:
            try:
                result = run(SUBJECTS[name])
            except Exception as exc:  # a bench reports and goes on
                result = f"error: {exc}"
            print(f"  {name:<12} {result}", flush=True)


if __name__ == "__main__":
    main()
