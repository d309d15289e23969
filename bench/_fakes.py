"""The fake model API as its own process, shared by the benchmarks (so its CPU is not ours)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start_fake(
    module: str = "nexus.fakes.anthropic_server", *, latency: float = 0.0
) -> tuple[subprocess.Popen[str], str]:
    """Start ``python -m MODULE`` on a free port; returns (process, base URL) once it listens."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0", "--latency", str(latency)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening "):
        proc.kill()
        proc.wait(10)
        raise SystemExit(f"fake server did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


def stop(proc: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s; always reaped."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()
