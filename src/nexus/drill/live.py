"""``nexus drill --live``: only harmless probes of the real install. Nothing is sent to a model, no
token is refreshed (a refresh would spend the refresh token another program may share), nothing is
killed and nothing is written.

- the model chain: the running gateway's ``/readyz`` and ``/status`` candidates (usable, and why not);
- credentials: the doctor's read-only auth checks (each profile's state, whether it can refresh:
  an OAuth profile with a refresh token and no needs-reauth mark; two profiles per provider);
- the port: who owns it (the doctor's port check, which names a foreign holder);
- backups: the age of the newest archive against ``[backup] max_age_h``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from nexus.common import NexusPaths
from nexus.common.gateway_token import read_token
from nexus.config import NexusConfig
from nexus.ops.backup import default_dir, list_backups
from nexus.ops.doctor import DoctorEnv, run_doctor
from nexus.ops.findings import Severity

CREDENTIAL_CHECKS = ("auth", "redundancy", "clock")


@dataclass(frozen=True)
class Probe:
    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def chain_probes(status: Mapping[str, Any] | None, ready: Mapping[str, Any] | None) -> list[Probe]:
    """Pure: the model chain as the running gateway sees it (None: it did not answer)."""
    if status is None:
        return [Probe("model chain", False, "the gateway does not answer: start it with `nexus up`")]
    out = []
    reasons = (ready or {}).get("reasons") or []
    out.append(Probe("readyz", not reasons, "ready" if not reasons else "; ".join(map(str, reasons))))
    by_model: dict[str, list[Mapping[str, Any]]] = {}
    for c in status.get("candidates") or []:
        by_model.setdefault(str(c.get("model")), []).append(c)
    for model in status.get("model_chain") or by_model:
        usable = [c for c in by_model.get(model, []) if c.get("usable")]
        why = next((c.get("reason") for c in by_model.get(model, []) if c.get("reason")), None)
        detail = (
            f"usable with {', '.join(str(c.get('profile')) for c in usable)}"
            if usable
            else f"not usable: {why}"
        )
        out.append(Probe(f"model {model}", bool(usable), detail))
    return out


def backup_probe(paths: NexusPaths, config: NexusConfig, *, now: float) -> Probe:
    where = default_dir(paths, config)
    newest = next(iter(list_backups(where)), None) if where.is_dir() else None
    if newest is None or newest.manifest is None:
        return Probe("backup age", False, f"no readable archive in {where}: run `nexus backup create`")
    age_h = (now - newest.manifest.created_at) / 3600
    fresh = age_h <= config.backup.max_age_h
    return Probe(
        "backup age",
        fresh,
        f"newest {newest.path.name}, {age_h:.1f} h old"
        + (
            ""
            if fresh
            else f" (> [backup] max_age_h = {config.backup.max_age_h:g}): schedule `nexus backup create`"
        ),
    )


def _gateway(config: NexusConfig, paths: NexusPaths) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    token = read_token(paths)
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(
        config.gateway.bind, config.gateway.bind
    )
    headers = {"Authorization": f"Bearer {token.reveal()}"} if token else {}
    try:
        with httpx.Client(base_url=f"http://{host}:{config.gateway.port}", timeout=3.0, trust_env=False) as c:
            ready = c.get("/readyz").json()
            status = c.get("/status", headers=headers)
            return (status.json() if status.status_code == 200 else None), ready
    except (httpx.HTTPError, ValueError):
        return None, None


def live_probes(
    paths: NexusPaths,
    config: NexusConfig,
    *,
    doctor: Callable[[], Any] | None = None,
    now: Callable[[], float] = time.time,
) -> list[Probe]:
    status, ready = _gateway(config, paths)
    probes = chain_probes(status, ready)
    outcome = (doctor or (lambda: run_doctor(DoctorEnv(paths=paths), fix=False)))()
    for finding in outcome.findings:
        if finding.check in CREDENTIAL_CHECKS or finding.check == "port":
            name = "port owner" if finding.check == "port" else f"credentials ({finding.check})"
            probes.append(Probe(name, finding.severity < Severity.WARN, finding.finding))
    for profile in (status or {}).get("auth", {}).get("profiles") or []:
        can = profile.get("refreshable") and profile.get("state") not in ("needs_reauth", "invalid")
        kind = "can refresh" if can else f"cannot refresh ({profile.get('state')}, {profile.get('type')})"
        days = profile.get("days_left")
        probes.append(
            Probe(
                f"profile {profile.get('name')}",
                profile.get("state") in ("ok", "cooling") or bool(can),
                kind + (f", {days:.1f} days left" if isinstance(days, int | float) else ""),
            )
        )
    probes.append(backup_probe(paths, config, now=now()))
    return probes
