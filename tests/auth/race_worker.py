"""A child process for the shared-profile race: ask for a token, call a protected resource, repeat.

    python tests/auth/race_worker.py MODE STORE PROFILE BASE_URL SECONDS

MODE ``nexus`` uses the ProfileStore (the protocol under test); MODE ``naive`` is what a typical
client does: keep the pair in memory, refresh it when it looks due without any lock, write the file
back. Prints one JSON line: requests ok / failed, token waits (seconds), refreshes this process sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from nexus.auth.errors import CredentialUnavailable
from nexus.auth.store import ProfileStore
from nexus.common.atomic import atomic_write_text

INTERVAL_S = 0.03
ROOT = Path(__file__).resolve().parents[2]


async def run_nexus(store_path: Path, profile: str, base_url: str, seconds: float) -> dict[str, object]:
    store = ProfileStore(store_path, refresh_margin_s=300, lock_timeout_s=10)
    sent = {"n": 0}
    store.subscribe(lambda e: sent.__setitem__("n", sent["n"] + (0 if getattr(e, "adopted", True) else 1)))
    ok = failed = 0
    waits: list[float] = []
    end = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        while time.monotonic() < end:
            started = time.monotonic()
            try:
                cred = await store.credential(profile)
            except CredentialUnavailable:
                failed += 1
                await asyncio.sleep(INTERVAL_S)
                continue
            waits.append(time.monotonic() - started)
            headers = {"authorization": f"Bearer {cred.secret.reveal()}"}
            response = await client.get(f"{base_url}/v1/me", headers=headers)
            if response.status_code == 401:  # what the router does: one forced refresh, one retry
                renewed = await store.unauthorized(profile, cred)
                if renewed is not None:
                    headers = {"authorization": f"Bearer {renewed.secret.reveal()}"}
                    response = await client.get(f"{base_url}/v1/me", headers=headers)
            if response.status_code == 200:
                ok += 1
            else:
                failed += 1
            await asyncio.sleep(INTERVAL_S)
    return {"ok": ok, "failed": failed, "waits": waits, "refreshes": sent["n"]}


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


async def run_naive(store_path: Path, profile: str, base_url: str, seconds: float) -> dict[str, object]:
    """No lock, no re-read under a lock, no adoption: the bug the incident was made of."""
    entry = _load(store_path)["profiles"][profile]
    ok = failed = refreshes = 0
    waits: list[float] = []
    end = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        while time.monotonic() < end:
            started = time.monotonic()
            lifetime = (entry["expires"] - entry.get("issued", entry["expires"] - 3_600_000)) / 1000
            if time.time() >= entry["expires"] / 1000 - lifetime / 4:
                body = {
                    "grant_type": "refresh_token",
                    "refresh_token": entry["refresh"],
                    "client_id": entry["client_id"],
                }
                response = await client.post(entry["token_url"], json=body)
                refreshes += 1
                if response.status_code == 200:
                    data = response.json()
                    now_ms = int(time.time() * 1000)
                    entry = {
                        **entry,
                        "access": data["access_token"],
                        "refresh": data["refresh_token"],
                        "expires": now_ms + int(data["expires_in"] * 1000),
                        "issued": now_ms,
                    }
                    doc = _load(store_path)
                    doc["profiles"][profile] = entry
                    atomic_write_text(store_path, json.dumps(doc))
            waits.append(time.monotonic() - started)
            headers = {"authorization": f"Bearer {entry['access']}"}
            response = await client.get(f"{base_url}/v1/me", headers=headers)
            if response.status_code == 200:
                ok += 1
            else:
                failed += 1
            await asyncio.sleep(INTERVAL_S)
    return {"ok": ok, "failed": failed, "waits": waits, "refreshes": refreshes}


@dataclass
class RaceResult:
    mode: str
    processes: int
    seconds: float
    ok: int
    failed: int
    refreshes: int
    """Refreshes the token endpoint accepted."""
    reuse_detected: int
    revoked_families: int
    expiries: int
    """Token lifetimes that ended during the run (what a perfect client refreshes exactly once each)."""
    refresh_ages: list[float] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)

    def p99_wait_ms(self) -> float:
        if not self.waits:
            return float("nan")
        ordered = sorted(self.waits)
        return 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def race(
    mode: str,
    processes: int,
    *,
    seconds: float,
    ttl: float,
    workdir: Path,
    store: Path | None = None,
    oauth: Any = None,
) -> RaceResult:
    """Start ``processes`` workers sharing one profile; wait for all.

    Without ``store``/``oauth`` a fresh token endpoint and store are made; with them, the workers join
    an existing race (the gateway test adds them to a gateway and `nexus ask` loops).
    """
    from nexus.fakes.oauth_server import FakeOAuthServer

    workdir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        if oauth is None or store is None:
            oauth = stack.enter_context(FakeOAuthServer(access_ttl=ttl))
            store = workdir / f"auth-profiles-{mode}-{processes}.json"
            grant = oauth.issue()
            doc = {
                "version": 1,
                "profiles": {"anthropic:main": grant.profile_json(token_url=oauth.token_url)},
            }
            atomic_write_text(store, json.dumps(doc))
            first_issued = grant.expires_at - ttl
        else:
            first_issued = time.time()
        started = time.time()
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        procs = [
            subprocess.Popen(
                [sys.executable, __file__, mode, str(store), "anthropic:main", oauth.base_url, str(seconds)],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            for _ in range(processes)
        ]
        results, codes = [], []
        try:
            for proc in procs:
                out, _ = proc.communicate(timeout=seconds + 60)
                codes.append(proc.returncode)
                lines = [line for line in out.splitlines() if line.startswith("{")]
                results.append(json.loads(lines[-1]) if lines else {"ok": 0, "failed": 1, "waits": []})
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=10)
        elapsed = time.time() - started
        return RaceResult(
            mode=mode,
            processes=processes,
            seconds=elapsed,
            ok=sum(r["ok"] for r in results),
            failed=sum(r["failed"] for r in results),
            refreshes=oauth.refreshes,
            reuse_detected=oauth.stats.reuse_detected,
            revoked_families=oauth.revoked_families,
            expiries=int((time.time() - first_issued) // ttl),
            refresh_ages=list(oauth.stats.refresh_ages),
            waits=[w for r in results for w in r["waits"]],
            exit_codes=codes,
        )


def main(argv: list[str]) -> None:
    mode, store, profile, base_url, seconds = argv
    runner = run_nexus if mode == "nexus" else run_naive
    result = asyncio.run(runner(Path(store), profile, base_url, float(seconds)))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
