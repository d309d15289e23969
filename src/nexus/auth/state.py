"""Runtime facts about profiles, kept apart from the secrets (``auth-profiles.state.json``).

Last used, last good, needs-reauth marks and the ``nexus auth order`` lists change far more often
than secrets (cooldowns are the model router's, in ``run/cooldowns.json``: one record, one owner); keeping them here means the secrets file is rewritten only when
a secret changes. A needs-reauth mark carries the fingerprint of the secret it condemns, so it
clears by itself the moment a human puts a new credential in the store: no stale mark outlives its
token, and none can be "forgotten" while the dead token is still there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

STATE_VERSION = 1


@dataclass(frozen=True)
class ReauthMark:
    reason: str
    fingerprint: str
    """``Secret.fingerprint()`` of the refresh token (oauth) or the secret itself (other kinds)."""
    at: float


@dataclass(frozen=True)
class ProfileRuntime:
    needs_reauth: ReauthMark | None = None
    last_used: float | None = None
    last_good: float | None = None


@dataclass(frozen=True)
class RuntimeState:
    profiles: Mapping[str, ProfileRuntime] = field(default_factory=dict)
    order: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def get(self, name: str) -> ProfileRuntime:
        return self.profiles.get(name, ProfileRuntime())

    def with_profile(self, name: str, runtime: ProfileRuntime) -> RuntimeState:
        return replace(self, profiles={**self.profiles, name: runtime})

    def without(self, name: str) -> RuntimeState:
        order = {p: tuple(n for n in names if n != name) for p, names in self.order.items()}
        return replace(self, profiles={k: v for k, v in self.profiles.items() if k != name}, order=order)

    def with_order(self, provider: str, names: tuple[str, ...]) -> RuntimeState:
        return replace(self, order={**self.order, provider: names})

    def to_json(self) -> str:
        profiles: dict[str, Any] = {}
        for name, rt in self.profiles.items():
            entry: dict[str, Any] = {}
            if rt.needs_reauth is not None:
                mark = rt.needs_reauth
                entry["needs_reauth"] = {
                    "reason": mark.reason,
                    "fingerprint": mark.fingerprint,
                    "at": mark.at,
                }
            for key in ("last_used", "last_good"):
                value = getattr(rt, key)
                if value is not None:
                    entry[key] = value
            profiles[name] = entry
        doc = {
            "version": STATE_VERSION,
            "order": {k: list(v) for k, v in self.order.items()},
            "profiles": profiles,
        }
        return json.dumps(doc, indent=2) + "\n"


def parse_state(text: str) -> RuntimeState:
    """Parse leniently: this file holds hints, and a damaged one must not stop credentials serving."""
    try:
        raw = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        return RuntimeState()
    if not isinstance(raw, dict):
        return RuntimeState()
    order: dict[str, tuple[str, ...]] = {}
    for provider, names in (raw.get("order") or {}).items():
        if isinstance(names, list):
            order[str(provider)] = tuple(str(n) for n in names)
    profiles: dict[str, ProfileRuntime] = {}
    for name, entry in (raw.get("profiles") or {}).items():
        if isinstance(entry, dict):
            profiles[str(name)] = _parse_runtime(entry)
    return RuntimeState(profiles=profiles, order=order)


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _parse_runtime(entry: Mapping[str, Any]) -> ProfileRuntime:
    mark = None
    raw_mark = entry.get("needs_reauth")
    if isinstance(raw_mark, dict) and isinstance(raw_mark.get("fingerprint"), str):
        mark = ReauthMark(
            reason=str(raw_mark.get("reason", "")),
            fingerprint=raw_mark["fingerprint"],
            at=_num(raw_mark.get("at")) or 0.0,
        )
    return ProfileRuntime(
        needs_reauth=mark,
        last_used=_num(entry.get("last_used")),
        last_good=_num(entry.get("last_good")),
    )
