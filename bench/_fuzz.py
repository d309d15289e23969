"""Schema-driven fuzz (``make fuzz``): schemathesis against ``/openapi.json`` of a real gateway process.

    make fuzz                                  # FUZZ_ARGS="--max-examples 300" for a longer run
    .venv-observe/bin/python bench/_fuzz.py --max-examples 100

A real ``nexus gateway run`` child answers from a zero-latency fake Anthropic API in this process
(127.0.0.1 only). Every check schemathesis has runs (``--checks all``): each response must be a
documented status with the documented shape, never a 5xx; positive examples must be accepted and
negative ones refused. Afterwards the gateway must still answer ``/healthz`` and its log must hold no
traceback. Named with a leading underscore so ``make bench`` (``bench/[!_]*.py``) skips it: it needs
schemathesis, which lives only in ``.venv-observe``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench._fakes import stop  # noqa: E402
from nexus.fakes.anthropic_server import FakeAnthropic  # noqa: E402


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_gateway(home: Path, port: int, anthropic_url: str) -> subprocess.Popen[bytes]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NEXUS_", "ANTHROPIC_", "OPENAI_", "LISTEN_"))
    }
    env.update(NEXUS_HOME=str(home), ANTHROPIC_BASE_URL=anthropic_url, ANTHROPIC_API_KEY="fuzz-key")
    log = (home / "gateway-stderr.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "nexus", "gateway", "run", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gateway exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("gateway not ready within 30 s")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--max-examples", type=int, default=100, help="per operation (default 100)")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    st = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if st is None:
        raise SystemExit("schemathesis is not installed here: run `make fuzz` (it installs .venv-observe)")
    with tempfile.TemporaryDirectory() as tmp, FakeAnthropic() as model:
        home = Path(tmp) / "home"
        home.mkdir()
        # short turns: a fuzzed message must never hold a worker for long
        (home / "nexus.toml").write_text("[models]\nturn_timeout_s = 10\n")
        port = free_port()
        proc = start_gateway(home, port, model.base_url)
        try:
            token = (home / "gateway.token").read_text().strip()
            base = f"http://127.0.0.1:{port}"
            cmd = [
                st,
                "--no-color",
                "run",
                f"{base}/openapi.json",
                "--url",
                base,
                "-H",
                f"Authorization: Bearer {token}",
                "--checks",
                "all",
                "--max-examples",
                str(args.max_examples),
                "--request-timeout",
                "30",
                "--workers",
                "1",  # hypothesis' lambda-source cache is not thread-safe (KeyError with 2 workers)
            ]
            if args.seed is not None:
                cmd += ["--seed", str(args.seed)]
            print(
                "$", " ".join(c if "Bearer" not in c else "-H 'Authorization: Bearer <token>'" for c in cmd)
            )
            started = time.monotonic()
            code = subprocess.run(cmd, env={**os.environ, "NO_COLOR": "1"}, check=False).returncode
            elapsed = time.monotonic() - started
            alive = httpx.get(f"{base}/healthz", timeout=5).status_code == 200
            still_ready = httpx.get(f"{base}/status", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        finally:
            stop(proc)
        log = (home / "gateway-stderr.log").read_text(errors="replace")
    tracebacks = log.count("Traceback (most recent call last)")
    print(
        f"\nschemathesis exit {code} in {elapsed:.0f}s; gateway alive afterwards: {alive}; "
        f"/status {still_ready.status_code}; tracebacks in the gateway log: {tracebacks}"
    )
    if tracebacks:
        print(log[-4000:])
    return 0 if code == 0 and alive and still_ready.status_code == 200 and not tracebacks else 1


if __name__ == "__main__":
    raise SystemExit(main())
