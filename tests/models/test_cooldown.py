"""Cooldown policy, candidate planning and the cooldown store: pure decisions, by table."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from nexus.auth.credentials import ProfileState
from nexus.config.schema import ModelRef
from nexus.models.candidates import fits_after_overflow, plan, rotates_profile
from nexus.models.cooldown import (
    ANY_MODEL,
    BURST_WINDOW_S,
    Admission,
    CooldownEntry,
    admit,
    after_failure,
    cleared_by_success,
    cooldown_seconds,
    credential_changed,
    last_resort,
    same_event,
)
from nexus.models.cooldown_store import JsonCooldownStore, Outcome, RouterState
from nexus.models.errors import ModelFailureKind

K = ModelFailureKind
NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("kind", "retry_after", "strikes", "seconds"),
    [
        (K.RATE_LIMIT, 1.0, 1, 1.0),  # the server's word wins
        (K.RATE_LIMIT, 1.0, 5, 1.0),
        (K.RATE_LIMIT, None, 1, 30.0),
        (K.RATE_LIMIT, None, 2, 60.0),
        (K.RATE_LIMIT, None, 3, 300.0),
        (K.RATE_LIMIT, None, 99, 3600.0),  # the ladder tops out
        (K.RATE_LIMIT, 10 * 86400.0, 1, 86400.0),  # a silly retry-after is capped
        (K.RATE_LIMIT, -5.0, 1, 0.0),
        (K.OVERLOADED, None, 1, 30.0),
        (K.OVERLOADED, 7.0, 1, 7.0),
        (K.TIMEOUT, 7.0, 1, 30.0),  # a timeout has no retry-after of its own
        (K.SERVER, None, 2, 60.0),
        (K.AUTH, None, 1, 60.0),
        (K.BILLING, None, 1, 3600.0),
        (K.BILLING, 5.0, 1, 3600.0),  # billing ignores a seconds-scale hint
        (K.BILLING, None, 3, 6 * 3600.0),
        (K.MODEL_NOT_FOUND, None, 1, 3600.0),
        (K.PERMISSION, None, 1, 3600.0),
        (K.AUTH_PERMANENT, None, 1, math.inf),
        (K.BAD_REQUEST, None, 1, None),
        (K.CONTEXT_OVERFLOW, None, 1, None),
    ],
)
def test_cooldown_seconds(
    kind: ModelFailureKind, retry_after: float | None, strikes: int, seconds: float | None
) -> None:
    assert cooldown_seconds(kind, retry_after, strikes) == seconds


def test_after_failure_climbs_the_ladder_and_scopes_by_kind() -> None:
    first = after_failure(None, profile="p", model="m", kind=K.OVERLOADED, retry_after=None, now=NOW)
    assert first is not None and (first.key, first.until, first.strikes) == (("p", "m"), NOW + 30, 1)
    second = after_failure(first, profile="p", model="m", kind=K.OVERLOADED, retry_after=None, now=NOW + 31)
    assert second is not None and (second.until, second.strikes) == (NOW + 31 + 60, 2)
    billing = after_failure(None, profile="p", model="m", kind=K.BILLING, retry_after=None, now=NOW)
    assert billing is not None and billing.key == ("p", ANY_MODEL)
    assert after_failure(None, profile="p", model="m", kind=K.BAD_REQUEST, retry_after=None, now=NOW) is None


@pytest.mark.parametrize(
    ("until", "now", "probing", "expected"),
    [
        (None, NOW, False, Admission.GO),
        (NOW + 10, NOW, False, Admission.SKIP),
        (NOW + 10, NOW + 10, False, Admission.PROBE),
        (NOW + 10, NOW + 11, True, Admission.SKIP),  # someone else is already probing
        (math.inf, NOW + 10**9, False, Admission.SKIP),
    ],
)
def test_admit(until: float | None, now: float, probing: bool, expected: Admission) -> None:
    entry = None if until is None else CooldownEntry("p", "m", K.RATE_LIMIT, until)
    assert admit(entry, now=now, probing=probing) is expected


def test_credential_changed() -> None:
    entry = CooldownEntry("p", ANY_MODEL, K.AUTH_PERMANENT, math.inf, fingerprint="aaaa")
    assert credential_changed(entry, "bbbb") and not credential_changed(entry, "aaaa")
    assert not credential_changed(CooldownEntry("p", "m", K.RATE_LIMIT, NOW), "bbbb")


def test_plan_rotates_profiles_within_a_model_first() -> None:
    profiles = {
        "anthropic": [
            ProfileState("anthropic:a", "anthropic", True),
            ProfileState("anthropic:b", "anthropic", True),
        ],
        "openai": [ProfileState("openai:x", "openai", False, "no key")],
    }
    chain = [ModelRef.parse(r) for r in ("anthropic/opus", "anthropic/haiku", "openai/gpt", "ollama/llama")]
    slots = plan(chain, lambda p: profiles.get(p, []))
    assert [(s.model, s.profile_name) for s in slots] == [
        ("anthropic/opus", "anthropic:a"),
        ("anthropic/opus", "anthropic:b"),
        ("anthropic/haiku", "anthropic:a"),
        ("anthropic/haiku", "anthropic:b"),
        ("openai/gpt", "openai:x"),
        ("ollama/llama", None),
    ]


@pytest.mark.parametrize(
    ("kind", "rotates"),
    [
        (K.RATE_LIMIT, True),
        (K.AUTH, True),
        (K.BILLING, True),
        (K.AUTH_PERMANENT, True),
        (K.PERMISSION, True),
        (K.OVERLOADED, False),
        (K.MODEL_NOT_FOUND, False),
        (K.TIMEOUT, False),
        (K.CONTEXT_OVERFLOW, False),
    ],
)
def test_rotates_profile(kind: ModelFailureKind, rotates: bool) -> None:
    assert rotates_profile(kind) is rotates


@pytest.mark.parametrize(
    ("window", "overflowed", "fits"),
    [(None, None, False), (200_000, None, True), (200_000, 200_000, False), (1_000_000, 200_000, True)],
)
def test_fits_after_overflow(window: int | None, overflowed: int | None, fits: bool) -> None:
    assert fits_after_overflow(window, overflowed) is fits


def test_store_round_trip_keeps_permanent_and_outcomes(tmp_path: Path) -> None:
    store = JsonCooldownStore(tmp_path / "run" / "cooldowns.json")
    state = RouterState()
    for entry in (
        CooldownEntry("p", "m", K.RATE_LIMIT, NOW + 5, 2, "slow down"),
        CooldownEntry("p", ANY_MODEL, K.AUTH_PERMANENT, math.inf, 1, "revoked", "abcd1234"),
    ):
        state.cooldowns[entry.key] = entry
    state.outcomes[("p", "m")] = Outcome("rate_limit", NOW, 429, "slow down")
    store.save(state)
    raw = json.loads(store.path.read_text())
    assert raw["version"] == 1 and None in [c["until"] for c in raw["cooldowns"]]  # JSON has no infinity
    assert store.path.stat().st_mode & 0o777 == 0o600
    assert store.load() == state


@pytest.mark.parametrize(
    "content", ["{not json", '{"version": 99}', '{"version": 1, "cooldowns": [{"x": 1}]}']
)
def test_store_ignores_an_unreadable_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "cooldowns.json"
    path.write_text(content)
    assert JsonCooldownStore(path).load() == RouterState()


def test_store_without_a_file_is_empty(tmp_path: Path) -> None:
    assert JsonCooldownStore(tmp_path / "missing.json").load() == RouterState()


# ---- issue 23: a blip never silences the assistant


def _entry(
    kind: ModelFailureKind = K.CONNECTION, *, at: float = NOW, until: float | None = None, **kw: object
) -> CooldownEntry:
    return CooldownEntry("p", "m", kind, NOW + 30 if until is None else until, at=at, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("now", "started_at", "together"),
    [
        (NOW + 0.025, NOW - 0.5, True),  # in flight when the rung was set: the same burst
        (NOW + 0.5, NOW + 0.4, True),  # sent after, but within the burst window
        (NOW + BURST_WINDOW_S + 1, NOW - 1, True),  # a slow request of the same burst
        (NOW + BURST_WINDOW_S + 1, NOW + BURST_WINDOW_S, False),  # a new event: next rung
        (NOW + 31, NOW + 31, False),  # the half-open probe failed
    ],
)
def test_same_event(now: float, started_at: float, together: bool) -> None:
    assert same_event(_entry(), now=now, started_at=started_at) is together


def test_nine_resets_in_25_ms_are_one_strike_not_nine() -> None:
    entry = None
    for i in range(9):
        now = NOW + i * 0.003
        entry = after_failure(
            entry, profile="p", model="m", kind=K.CONNECTION, retry_after=None, now=now, started_at=NOW - 0.1
        )
    assert entry is not None and entry.strikes == 1 and entry.until == pytest.approx(NOW + 30, abs=0.1)
    assert entry.at == NOW  # the rung stays where the event began
    later = after_failure(
        entry, profile="p", model="m", kind=K.CONNECTION, retry_after=None, now=NOW + 31, started_at=NOW + 31
    )
    assert later is not None and later.strikes == 2 and later.until == NOW + 31 + 60


def test_a_burst_member_can_lengthen_but_never_shorten_the_cooldown() -> None:
    first = after_failure(None, profile="p", model="m", kind=K.RATE_LIMIT, retry_after=40, now=NOW)
    shorter = after_failure(first, profile="p", model="m", kind=K.RATE_LIMIT, retry_after=5, now=NOW + 0.1)
    assert shorter == first
    longer = after_failure(first, profile="p", model="m", kind=K.RATE_LIMIT, retry_after=90, now=NOW + 0.1)
    assert longer is not None and longer.until == NOW + 90.1 and longer.strikes == 1 and longer.at == NOW


@pytest.mark.parametrize(
    ("kind", "started_at", "cleared"),
    [
        (K.CONNECTION, NOW - 1, True),  # an answer of the same burst proves the endpoint is reachable
        (K.TIMEOUT, NOW - 1, True),
        (K.SERVER, NOW - 1, True),
        (K.RATE_LIMIT, NOW - 1, False),  # concurrent successes are how a rate limit looks
        (K.OVERLOADED, NOW - 1, False),
        (K.AUTH, NOW - 1, False),
        (K.RATE_LIMIT, NOW + 1, True),  # sent after the 429 and answered: the limit is over
        (K.BILLING, NOW + 1, True),
    ],
)
def test_cleared_by_success(kind: ModelFailureKind, started_at: float, cleared: bool) -> None:
    assert cleared_by_success(_entry(kind), started_at=started_at) is cleared


@pytest.mark.parametrize(
    ("entries", "chosen"),
    [
        ([], None),
        ([None], None),
        ([_entry(K.CONNECTION)], 0),
        ([_entry(K.RATE_LIMIT, told=True)], None),  # the server said when: honoured
        ([_entry(K.RATE_LIMIT)], 0),  # a 429 without retry-after: our guess, probed
        ([_entry(K.BILLING)], None),  # needs a human (or `nexus models reset`)
        ([_entry(K.AUTH_PERMANENT, until=math.inf)], None),
        ([_entry(K.SERVER, until=NOW + 300), _entry(K.TIMEOUT, until=NOW + 30)], 1),  # the soonest back
        ([_entry(K.SERVER), _entry(K.TIMEOUT)], 0),  # a tie: the chain's order
    ],
)
def test_last_resort(entries: list[CooldownEntry | None], chosen: int | None) -> None:
    assert last_resort(entries) == chosen


def test_store_keeps_when_and_whether_the_server_said(tmp_path: Path) -> None:
    store = JsonCooldownStore(tmp_path / "cooldowns.json")
    state = RouterState({("p", "m"): _entry(K.RATE_LIMIT, told=True)})
    store.save(state)
    assert not store.changed()  # our own write is not a change
    assert JsonCooldownStore(store.path).load() == state
    other = JsonCooldownStore(store.path)
    other.save(RouterState())
    assert store.changed()  # someone else wrote it
    store.load()
    assert not store.changed()
