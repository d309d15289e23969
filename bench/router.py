"""Router benchmark: what the Nexus router costs per request and how fast it falls over, against
direct httpx and LiteLLM's Router, all talking to the same fake Anthropic API in its own process.

    make bench                     # or: .venv/bin/python bench/router.py [--requests N] [--no-litellm]

Measured (client process only; the fake runs in another process on 127.0.0.1):
- full answer: latency p50/p99 and client CPU per request. Direct httpx and LiteLLM send a plain
  request; the Nexus router always streams and collects the whole answer.
- stream: time to first token p50/p99 and client CPU per request.
- failover: the primary answers 429 ``retry-after: 1`` (then 529, then an error event after two
  tokens); five turns in a row; time to answer, requests that reached the primary, final text.

LiteLLM (``litellm==1.110.2``) is only a benchmark extra: it goes into ``.venv-bench``, made by this
script, and runs there as a subprocess, so it never meets our pinned dependencies. Every LiteLLM call
that could reach the internet is switched off (local cost map, no telemetry).
Targets (issue 4): Nexus adds <= 0.5 ms p50 (<= 1/10 of LiteLLM's overhead) and answers from the
fallback within 50 ms plus the fallback's own latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._fakes import start_fake, stop  # noqa: E402

BENCH_VENV = ROOT / ".venv-bench"
LITELLM = "litellm==1.110.2"
PRIMARY, FALLBACK = "claude-primary", "claude-fallback"
BODY = {"model": PRIMARY, "max_tokens": 64, "messages": [{"role": "user", "content": "hello"}]}
HEADERS = {"x-api-key": "bench-key", "anthropic-version": "2023-06-01"}
SCENARIOS: dict[str, dict[str, Any]] = {
    "429 retry-after 1": {"kind": "error", "status": 429, "retry_after": 1},
    "529 overloaded": {"kind": "error", "status": 529},
    "error event after 2 tokens": {
        "kind": "mid_stream_error",
        "after_chunks": 2,
        "error_type": "overloaded_error",
    },
}
TURNS = 5


# ---------------------------------------------------------------------------- the fake, in its own process


def control(base: str, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = httpx.post(f"{base}/_fake/{action}", json=body or {}, timeout=10)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def script_primary(base: str, behaviour: dict[str, Any] | None) -> None:
    control(base, "reset")
    if behaviour is not None:
        control(base, "script", {"model": PRIMARY, "behaviours": [behaviour], "always": True})


def primary_requests(base: str) -> int:
    return int(httpx.get(f"{base}/_fake/requests", timeout=10).json()["by_model"].get(PRIMARY, 0))


# ---------------------------------------------------------------------------- measuring


def summary(samples: list[float], cpu: float) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": statistics.median(ordered) * 1e3,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e3,
        "cpu_ms": cpu / len(samples) * 1e3,
    }


async def measure_interleaved(
    variants: dict[str, Callable[[], Awaitable[float | None]]], n: int, warmup: int = 30
) -> dict[str, dict[str, float]]:
    """Run the variants in alternating order, so a busy machine slows each of them alike.

    Each call returns its own figure (time to first token) or None (then its wall time counts). The
    first variant is the baseline: the others also get the median of their paired differences.
    """
    names = list(variants)
    for _ in range(warmup):
        for fn in variants.values():
            await fn()
    samples: dict[str, list[float]] = {name: [] for name in names}
    cpu = dict.fromkeys(names, 0.0)
    for i in range(n):
        for name in names if i % 2 == 0 else reversed(names):
            cpu0, started = time.process_time(), time.perf_counter()
            own = await variants[name]()
            samples[name].append(own if own is not None else time.perf_counter() - started)
            cpu[name] += time.process_time() - cpu0
    result = {name: summary(samples[name], cpu[name]) for name in names}
    for name in names[1:]:
        diffs = [a - b for a, b in zip(samples[name], samples[names[0]], strict=True)]
        result[name]["added_p50_ms"] = statistics.median(diffs) * 1e3
    return result


def nexus_router(base: str, home: Path) -> Any:
    from nexus.auth.credentials import EnvCredentialSource
    from nexus.common.paths import NexusPaths
    from nexus.config.schema import NexusConfig
    from nexus.models.factory import build_router

    environ = {"ANTHROPIC_BASE_URL": base, "ANTHROPIC_API_KEY": "bench-key"}
    config = NexusConfig.model_validate(
        {
            "models": {
                "primary": f"anthropic/{PRIMARY}",
                "fallbacks": [f"anthropic/{FALLBACK}"],
                "max_tokens": 64,
            }
        }
    )
    paths = NexusPaths(home=home)
    paths.ensure()
    return build_router(config, paths, EnvCredentialSource(environ=environ), environ=environ)


async def overhead(base: str, n: int) -> dict[str, dict[str, dict[str, float]]]:
    """Direct httpx and the Nexus router, interleaved: full answer, then time to first token."""
    from nexus.models.turn import Delta, Turn
    from nexus.models.types import ChatMessage

    turn = Turn(run_id="bench", messages=(ChatMessage("user", "hello"),))
    with tempfile.TemporaryDirectory() as home:
        router = nexus_router(base, Path(home))
        async with httpx.AsyncClient(timeout=30) as client:
            try:

                async def direct_full() -> None:
                    response = await client.post(f"{base}/v1/messages", json=BODY, headers=HEADERS)
                    response.raise_for_status()
                    response.json()

                async def direct_first_token() -> float:
                    started = time.perf_counter()
                    ttft = None
                    body = {**BODY, "stream": True}
                    async with client.stream("POST", f"{base}/v1/messages", json=body, headers=HEADERS) as r:
                        async for line in r.aiter_lines():
                            if ttft is None and line.startswith("data: ") and '"text_delta"' in line:
                                ttft = time.perf_counter() - started
                    assert ttft is not None
                    return ttft

                async def nexus_full() -> None:
                    await router.run(turn, lambda event: None)

                async def nexus_first_token() -> float:
                    started = time.perf_counter()
                    seen: list[float] = []

                    def sink(event: object) -> None:
                        if not seen and isinstance(event, Delta):
                            seen.append(time.perf_counter() - started)

                    await router.run(turn, sink)
                    return seen[0]

                full = await measure_interleaved({"direct": direct_full, "nexus": nexus_full}, n)
                stream = await measure_interleaved(
                    {"direct": direct_first_token, "nexus": nexus_first_token}, n
                )
            finally:
                await router.aclose()
    return {
        "direct": {"full": full["direct"], "stream": stream["direct"]},
        "nexus": {"full": full["nexus"], "stream": stream["nexus"]},
    }


async def nexus_failover(base: str, behaviour: dict[str, Any]) -> dict[str, Any]:
    from nexus.models.turn import Turn, TurnFailed
    from nexus.models.types import ChatMessage

    turn = Turn(run_id="bench", messages=(ChatMessage("user", "hello"),))
    script_primary(base, None)
    with tempfile.TemporaryDirectory() as home:
        router = nexus_router(base, Path(home))
        times, texts = [], []
        try:
            await router.run(turn, lambda event: None)  # steady state: client and connection up
            script_primary(base, behaviour)  # also forgets the warm-up request
            for _ in range(TURNS):
                started = time.perf_counter()
                try:
                    result = await router.run(turn, lambda event: None)
                    texts.append(result.text)
                except TurnFailed as exc:
                    texts.append(f"FAILED: {exc.summary.splitlines()[0]}")
                times.append((time.perf_counter() - started) * 1e3)
        finally:
            await router.aclose()
    return {"times_ms": times, "primary_requests": primary_requests(base), "texts": texts}


# ---------------------------------------------------------------------------- LiteLLM, in its own venv

LITELLM_SCRIPT = r"""
import asyncio, json, os, statistics, sys, time
import litellm
from litellm import Router
litellm.telemetry = False
litellm.suppress_debug_info = True
base, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
params = lambda model: {"model": f"anthropic/{model}", "api_base": base, "api_key": "bench-key"}
router = Router(
    model_list=[{"model_name": "primary", "litellm_params": params("claude-primary")},
                {"model_name": "fallback", "litellm_params": params("claude-fallback")}],
    fallbacks=[{"primary": ["fallback"]}],
)
messages = [{"role": "user", "content": "hello"}]

def summary(samples, cpu):
    s = sorted(samples)
    return {"p50_ms": statistics.median(s) * 1e3, "p99_ms": s[min(len(s) - 1, int(len(s) * 0.99))] * 1e3,
            "cpu_ms": cpu / len(samples) * 1e3}

async def measure(fn):
    for _ in range(30):
        await fn()
    samples, cpu0 = [], time.process_time()
    for _ in range(n):
        t = time.perf_counter(); own = await fn(); samples.append(own if own is not None else time.perf_counter() - t)
    return summary(samples, time.process_time() - cpu0)

async def full():
    r = await router.acompletion(model="primary", messages=messages, max_tokens=64)
    assert r.choices[0].message.content

async def first_token():
    t = time.perf_counter(); ttft = None
    stream = await router.acompletion(model="primary", messages=messages, max_tokens=64, stream=True)
    async for chunk in stream:
        if ttft is None and chunk.choices and chunk.choices[0].delta.content:
            ttft = time.perf_counter() - t
    return ttft

async def failover():
    times, texts = [], []
    for model in ("primary", "fallback"):  # steady state, as for Nexus: clients and connections up
        await router.acompletion(model=model, messages=messages, max_tokens=64)
    import httpx
    httpx.post(base + "/_fake/script", json=json.loads(sys.argv[4]), timeout=10).raise_for_status()
    for _ in range(5):
        t = time.perf_counter()
        try:
            stream = await router.acompletion(model="primary", messages=messages, max_tokens=64, stream=True)
            text = ""
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    text += chunk.choices[0].delta.content
            texts.append(text)
        except Exception as exc:
            texts.append(f"FAILED: {type(exc).__name__}")
        times.append((time.perf_counter() - t) * 1e3)
    return {"times_ms": times, "texts": texts}

async def main():
    if mode == "overhead":
        return {"full": await measure(full), "stream": await measure(first_token)}
    return await failover()

print(json.dumps(asyncio.run(main())))
"""


DEAD = "http://127.0.0.1:9"
LITELLM_ENV = {
    # LiteLLM must talk to nothing but the fake: offline mode, local catalogs, and any other URL it
    # might fetch sent to a closed local port, through a dead proxy for everything but loopback
    "LITELLM_OFFLINE_MODE": "true",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_TELEMETRY": "False",
    "LITELLM_MODEL_COST_MAP_URL": DEAD,
    "LITELLM_BLOG_POSTS_URL": DEAD,
    "LITELLM_ANTHROPIC_BETA_HEADERS_URL": DEAD,
    "LITELLM_AUTOROUTER_PRESETS_URL": DEAD,
    "HTTP_PROXY": DEAD,
    "HTTPS_PROXY": DEAD,
    "ALL_PROXY": DEAD,
    "NO_PROXY": "127.0.0.1,localhost",
}


def litellm_python(note: Callable[[str], None]) -> Path | None:
    python = BENCH_VENV / "bin" / "python"
    check = [str(python), "-c", "import litellm"]
    env = {**os.environ, **LITELLM_ENV}
    if python.exists() and subprocess.run(check, capture_output=True, env=env, timeout=120).returncode == 0:
        return python
    note(f"installing {LITELLM} into {BENCH_VENV.name} (benchmark extra, once)...")
    try:
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True, timeout=300)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", LITELLM],
            check=True,
            timeout=900,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        note(f"LiteLLM unavailable ({exc}); its rows are skipped")
        return None
    return python


def run_litellm(python: Path, base: str, n: int, mode: str, script: str = "{}") -> dict[str, Any] | None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))},
        **LITELLM_ENV,
    }
    done = subprocess.run(
        [str(python), "-c", LITELLM_SCRIPT, base, str(n), mode, script],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if done.returncode != 0:
        print(f"  LiteLLM {mode} failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------------------- report


def row(name: str, figures: dict[str, float] | None, base: dict[str, float]) -> str:
    if figures is None:
        return f"  {name:<14} (skipped)"
    added = figures.get("added_p50_ms", figures["p50_ms"] - base["p50_ms"])
    cpu = figures["cpu_ms"] - base["cpu_ms"]
    return (
        f"  {name:<14} p50 {figures['p50_ms']:7.2f} ms  p99 {figures['p99_ms']:7.2f} ms  cpu/req {figures['cpu_ms']:6.2f} ms"
        f"   added p50 {added:+7.2f} ms  added cpu {cpu:+6.2f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="measured requests per variant")
    parser.add_argument("--no-litellm", action="store_true", help="skip the LiteLLM rows")
    args = parser.parse_args()
    logging.getLogger("nexus").setLevel(logging.ERROR)  # the failover scenarios log every cooldown

    python = None if args.no_litellm else litellm_python(lambda m: print(m, flush=True))
    fake, base = start_fake()
    try:
        script_primary(base, None)
        measured = asyncio.run(overhead(base, args.requests))
        direct, ours = measured["direct"], measured["nexus"]
        theirs = run_litellm(python, base, args.requests, "overhead") if python else None

        print(
            f"\nrouter overhead, {args.requests} sequential requests, fake Anthropic API in its own process"
        )
        for mode, title in (("full", "full answer"), ("stream", "stream, time to first token")):
            print(f" {title}:")
            print(row("direct httpx", direct[mode], direct[mode]))
            print(row("nexus router", ours[mode], direct[mode]))
            print(row("litellm router", theirs[mode] if theirs else None, direct[mode]))
        nexus_added = ours["full"]["added_p50_ms"]
        verdict = "ok" if nexus_added <= 0.5 else "MISSED"
        print(f" target: nexus adds <= 0.5 ms p50 -> {nexus_added:+.2f} ms ({verdict})")
        if theirs:
            lite_added = theirs["full"]["p50_ms"] - direct["full"]["p50_ms"]
            ratio = nexus_added / lite_added if lite_added > 0 else float("nan")
            print(f" nexus overhead / litellm overhead = {ratio:.3f} (target <= 0.1)")

        fallback_own = direct["stream"]["p50_ms"]
        print(
            f"\nfailover: {TURNS} turns in a row, primary scripted to fail; fallback's own p50 ~{fallback_own:.2f} ms"
        )
        for label, behaviour in SCENARIOS.items():
            result = asyncio.run(nexus_failover(base, behaviour))
            times = ", ".join(f"{t:.1f}" for t in result["times_ms"])
            ok = all(not t.startswith("FAILED") for t in result["texts"])
            first_extra = result["times_ms"][0] - fallback_own
            print(f" {label}:")
            print(
                f"  nexus          ms per turn [{times}]  primary hit {result['primary_requests']}x"
                f"  answers {'complete' if ok else 'FAILED'}  first turn +{first_extra:.1f} ms over the fallback"
                f" ({'ok' if first_extra <= 50 else 'MISSED'} <= 50 ms)"
            )
            if python:
                script_primary(base, None)
                plan = json.dumps({"model": PRIMARY, "behaviours": [behaviour], "always": True})
                lite = run_litellm(python, base, 0, "failover", plan)
                if lite is not None:
                    times = ", ".join(f"{t:.1f}" for t in lite["times_ms"])
                    failed = [t for t in lite["texts"] if t.startswith("FAILED") or t != "echo: hello"]
                    hits = primary_requests(base) - 1  # less its warm-up request
                    print(
                        f"  litellm        ms per turn [{times}]  primary hit {hits}x"
                        f"  answers {'complete' if not failed else 'lost/partial: ' + repr(failed[0])}"
                    )
    finally:
        stop(fake)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
