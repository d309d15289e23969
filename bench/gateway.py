"""Gateway benchmark: cold start, idle memory, sustained intake, added latency, the first answer.

    make bench            # or: .venv/bin/python bench/gateway.py [--messages N]

Everything talks to a zero-latency fake Anthropic API run as its own process on 127.0.0.1, and the
gateway runs as a real subprocess, as in production. Targets (issues 2 and 16): cold start to
/readyz 200 <= 0.5 s, idle RSS <= 60 MB with a provider configured, >= 300 messages/s accepted with
every one committed, p50 added latency <= 1 ms over calling the fake directly; the first message of
a fresh gateway falling back after a 429 costs about what a healthy first message does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._fakes import start_fake, stop  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gateway_env(home: Path, fake_url: str, *, with_key: bool = True) -> dict[str, str]:
    drop = ("NEXUS_", "LISTEN_", "NOTIFY_", "ANTHROPIC_", "OPENAI_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(NEXUS_HOME=str(home), ANTHROPIC_BASE_URL=fake_url, PYTHONDONTWRITEBYTECODE="1")
    if with_key:
        env["ANTHROPIC_API_KEY"] = "bench-key"
    return env


def start_gateway(
    home: Path, fake_url: str, port: int, *, with_key: bool = True
) -> tuple[subprocess.Popen[bytes], float]:
    """Start and return (process, seconds until /readyz answered, 200 with a key, 503 without)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nexus", "gateway", "run", "--port", str(port), "--log-level", "warning"],
        env=gateway_env(home, fake_url, with_key=with_key),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = started + 30
    with httpx.Client(timeout=1.0) as client:
        while time.perf_counter() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"gateway exited with {proc.returncode}")
            try:
                if client.get(f"http://127.0.0.1:{port}/readyz").status_code == (200 if with_key else 503):
                    return proc, time.perf_counter() - started
            except httpx.TransportError:
                pass
            time.sleep(0.002)
    proc.kill()
    raise SystemExit("gateway not ready within 30 s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def intake(port: int, token: str, count: int, concurrency: int) -> tuple[float, list[str]]:
    """POST count messages over `concurrency` connections; return (seconds, run ids)."""
    ids: list[str] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {token}"},
        limits=limits,
        timeout=30,
    ) as client:

        async def worker() -> None:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                r = await client.post("/api/messages", json={"session": f"bench-{i % 50}", "text": f"m{i}"})
                r.raise_for_status()
                ids.append(r.json()["run_id"])

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, ids


def wait_all_done(db: Path, count: int, timeout: float) -> float:
    started = time.perf_counter()
    conn = sqlite3.connect(db)
    try:
        while time.perf_counter() - started < timeout:
            done = conn.execute("SELECT COUNT(*) FROM runs WHERE status IN ('done', 'failed')").fetchone()[0]
            if done >= count:
                return time.perf_counter() - started
            time.sleep(0.02)
    finally:
        conn.close()
    raise SystemExit(f"not all {count} runs finished within {timeout}s")


def added_latency(port: int, token: str, fake_url: str, rounds: int) -> tuple[list[float], list[float]]:
    body = {"model": "claude-opus-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "ping"}]}
    direct: list[float] = []
    via: list[float] = []
    with httpx.Client(timeout=30) as client:
        headers = {"x-api-key": "bench-key", "anthropic-version": "2023-06-01"}
        gw_headers = {"Authorization": f"Bearer {token}"}
        oa_body = {"model": "nexus", "messages": [{"role": "user", "content": "ping"}]}
        for i in range(rounds + 20):
            t0 = time.perf_counter()
            client.post(f"{fake_url}/v1/messages", json=body, headers=headers).raise_for_status()
            t1 = time.perf_counter()
            oa_body["user"] = f"lat-{i}"
            client.post(
                f"http://127.0.0.1:{port}/v1/chat/completions", json=oa_body, headers=gw_headers
            ).raise_for_status()
            t2 = time.perf_counter()
            if i >= 20:  # warm-up excluded
                direct.append((t1 - t0) * 1000)
                via.append((t2 - t1) * 1000)
    return direct, via


FIRST_CONFIG = """[models]
primary = "anthropic/claude-primary"
fallbacks = ["anthropic/claude-fallback"]
"""


def first_answer_ms(fake_url: str, *, primary_429: bool) -> float:
    """A fresh gateway's first message, from POST to answer (the 429 case falls back once)."""
    with httpx.Client(timeout=30) as control:
        control.post(f"{fake_url}/_fake/reset").raise_for_status()
        if primary_429:
            script = {
                "model": "claude-primary",
                "always": True,
                "behaviours": [{"kind": "error", "status": 429, "retry_after": 1}],
            }
            control.post(f"{fake_url}/_fake/script", json=script).raise_for_status()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        home.joinpath("nexus.toml").write_text(FIRST_CONFIG)
        port = free_port()
        proc, _ = start_gateway(home, fake_url, port)
        try:
            token = (home / "gateway.token").read_text().strip()
            body = {"model": "nexus", "messages": [{"role": "user", "content": "first"}]}
            with httpx.Client(timeout=30) as client:
                started = time.perf_counter()
                response = client.post(
                    f"http://127.0.0.1:{port}/v1/chat/completions",
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                )
                took = (time.perf_counter() - started) * 1000
                response.raise_for_status()
                assert response.json()["choices"][0]["message"]["content"] == "echo: first"
        finally:
            stop(proc)
    return took


def accept_only(count: int, concurrency: int) -> tuple[float, float]:
    """Intake rate and gateway CPU per message when no answer competes for the CPU."""
    slow_fake, slow_url = start_fake(latency=60.0)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            port = free_port()
            proc, _ = start_gateway(home, slow_url, port)
            try:
                process = psutil.Process(proc.pid)
                before = sum(process.cpu_times()[:2])
                token = (home / "gateway.token").read_text().strip()
                seconds, ids = asyncio.run(intake(port, token, count, concurrency))
                cpu_ms = (sum(process.cpu_times()[:2]) - before) * 1000 / len(ids)
            finally:
                stop(proc)
    finally:
        stop(slow_fake)
    return len(ids) / seconds, cpu_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    fake, fake_url = start_fake()
    try:
        starts: list[float] = []
        for _ in range(args.starts):
            with tempfile.TemporaryDirectory() as tmp:
                proc, seconds = start_gateway(Path(tmp), fake_url, free_port())
                stop(proc)
                starts.append(seconds)
        with tempfile.TemporaryDirectory() as tmp:
            proc, _ = start_gateway(Path(tmp), fake_url, free_port(), with_key=False)
            time.sleep(1.0)
            bare_rss_mb = psutil.Process(proc.pid).memory_info().rss / 1e6
            stop(proc)
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            port = free_port()
            proc, _ = start_gateway(home, fake_url, port)
            try:
                time.sleep(1.0)  # let start-up garbage settle before reading idle memory
                rss_mb = psutil.Process(proc.pid).memory_info().rss / 1e6
                token = (home / "gateway.token").read_text().strip()
                gateway_cpu = psutil.Process(proc.pid)
                cpu_before = sum(gateway_cpu.cpu_times()[:2])
                seconds, ids = asyncio.run(intake(port, token, args.messages, args.concurrency))
                drain = wait_all_done(home / "state.db", len(ids), timeout=300)
                cpu_ms = (sum(gateway_cpu.cpu_times()[:2]) - cpu_before) * 1000 / len(ids)
                conn = sqlite3.connect(home / "state.db")
                committed = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
                conn.close()
                direct, via = added_latency(port, token, fake_url, args.rounds)
            finally:
                stop(proc)
        healthy_first = [first_answer_ms(fake_url, primary_429=False) for _ in range(3)]
        fallback_first = [first_answer_ms(fake_url, primary_429=True) for _ in range(3)]
    finally:
        stop(fake)
    accept_rate, accept_cpu_ms = accept_only(args.messages, args.concurrency)
    added = [v - d for v, d in zip(via, direct, strict=True)]
    print(
        f"cold start to /readyz 200: median {statistics.median(starts):.3f} s (min {min(starts):.3f}, max {max(starts):.3f}, n={len(starts)}); target <= 0.5 s"
    )
    print(
        f"idle RSS: {rss_mb:.1f} MB with a provider configured (no SDK: plain httpx),"
        f" {bare_rss_mb:.1f} MB with none; target <= 60 MB"
    )
    print(
        f"intake: {len(ids)} messages accepted in {seconds:.2f} s = {len(ids) / seconds:.0f}/s over {args.concurrency} connections; committed rows {committed}; target >= 300/s"
    )
    print(
        f"answered: all {len(ids)} done {drain:.2f} s after the last was accepted ({len(ids) / (seconds + drain):.0f}/s end to end)"
    )
    print(
        f"accept only (the model answers after 60 s, so answering takes no CPU meanwhile): {accept_rate:.0f}/s,"
        f" gateway CPU {accept_cpu_ms:.2f} ms per accepted message"
    )
    print(
        f"gateway CPU per message (accept + answer): {cpu_ms:.2f} ms;"
        f" one core caps the gateway near {1000 / cpu_ms:.0f} messages/s"
    )
    print(
        f"direct call to the fake: p50 {percentile(direct, 50):.2f} ms, p99 {percentile(direct, 99):.2f} ms"
    )
    print(
        f"through the gateway (/v1/chat/completions): p50 {percentile(via, 50):.2f} ms, p99 {percentile(via, 99):.2f} ms"
    )
    print(
        f"added by the gateway: p50 {percentile(added, 50):.2f} ms, p99 {percentile(added, 99):.2f} ms; target p50 <= 1 ms"
    )
    print(
        f"first message of a fresh gateway: healthy median {statistics.median(healthy_first):.1f} ms,"
        f" primary 429 -> fallback median {statistics.median(fallback_first):.1f} ms (n=3 each)"
    )


if __name__ == "__main__":
    main()
