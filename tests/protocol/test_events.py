"""The event vocabulary: every event encodes to its documented payload and decodes back to itself."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nexus.protocol import events as ev

SNAP = ev.RunSnapshot(run_id="run_1", session="s", status="done", message="hi", text="hello", model="m")

SAMPLES: list[ev.Event] = [
    ev.RunAccepted(run_id="run_1", session="s", ahead=2, message="hi"),
    ev.RunStatus(run_id="run_1", session="s", state=ev.RunState.CALLING, model="m", profile="p"),
    ev.RunDelta(run_id="run_1", session="s", text="Hel"),
    ev.RunFallback(run_id="run_1", session="s", from_model="a/x", to_model="b/y", reason="rate_limit"),
    ev.RunFinal(run=SNAP, usage=ev.Usage(input_tokens=3, output_tokens=4)),
    ev.RunError(
        run=ev.RunSnapshot(run_id="run_1", session="s", status="failed", error="no"),
        soonest_retry=12.5,
        attempts=(ev.AttemptInfo(model="a/x", profile=None, outcome="auth", status=401),),
    ),
    ev.RunTool(run_id="run_1", session="s", call_id="c1", tool="shell", summary="ls"),
    ev.ApprovalRequested(approval_id="ap1", run_id="run_1", session="s", tool="shell", summary="rm x"),
    ev.ApprovalResolved(approval_id="ap1", run_id="run_1", session="s", decision="approved", by="owner"),
    ev.ScheduleFired(schedule_id="daily", session="s", run_id="run_2", at=5.0),
    ev.ModelFallback(run_id="run_1", from_model="a/x", to_model="b/y", reason="auth", after_tokens=True),
    ev.ModelCooldown(model="a/x", profile="p", reason="rate_limit", until=99.0),
    ev.AuthExpiring(profile="p", provider="anthropic", days=7, expires_at=9.0, message="m"),
    ev.AuthNeedsReauth(profile="p", provider="anthropic", reason="revoked", message="m"),
    ev.AuthRefreshed(profile="p", provider="anthropic", adopted=True, message="m"),
    ev.OwnerAlert(
        kind="models_down", subject="models", severity="critical", message="m", remedy="r", at=1.0, key="k"
    ),
    ev.Tick(time=1.0, queue_depth=0),
]


def test_every_event_has_a_sample() -> None:
    assert {type(e) for e in SAMPLES} == set(ev.EVENTS.values())


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.name)
def test_round_trip_through_json(event: ev.Event) -> None:
    wire = json.loads(json.dumps(event.payload()))
    assert ev.decode(event.name, wire) == event


def test_wire_keys_as_documented() -> None:
    fallback = SAMPLES[3].payload()
    assert {"from", "to"} <= set(fallback) and "from_model" not in fallback
    final = SAMPLES[4].payload()
    assert final["text"] == "hello" and final["message"] == "hi" and final["usage"]["output_tokens"] == 4
    assert "attempts" not in ev.RunError(run=SNAP).payload()


@pytest.mark.parametrize(
    ("name", "payload", "expected"),
    [
        ("no.such.event", {}, None),
        ("run.delta", {"run_id": "r", "text": 5}, ev.RunDelta(run_id="r", session="", text="")),
        (
            "run.status",
            {"run_id": "r", "state": "bogus", "attempt": "2"},
            ev.RunStatus(run_id="r", session=""),
        ),
        ("tick", {"time": True, "queue_depth": 1.0}, ev.Tick(time=0.0, queue_depth=1)),
        ("run.error", {"run_id": "r", "attempts": ["x", {"model": "m"}]}, None),
    ],
)
def test_decoding_is_tolerant(name: str, payload: dict, expected: ev.Event | None) -> None:
    decoded = ev.decode(name, payload)
    if name == "run.error":
        assert isinstance(decoded, ev.RunError)
        assert decoded.attempts == (ev.AttemptInfo(model="m", profile=None, outcome=""),)
        return
    assert decoded == expected


def test_scope() -> None:
    assert SAMPLES[2].scope == "s" and SAMPLES[4].scope == "s"
    assert SAMPLES[-1].scope is None and SAMPLES[10].scope is None


def test_the_protocol_page_lists_every_event() -> None:
    page = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_.]+)` \|", page, flags=re.M))
    assert set(ev.EVENTS) <= documented


def test_no_event_name_is_a_string_literal_outside_the_vocabulary() -> None:
    src = Path(ev.__file__).parents[1]
    names = "|".join(re.escape(n) for n in ev.EVENTS if "." in n)
    pattern = re.compile(rf"""["']({names})["']""")
    offenders = [
        f"{path.relative_to(src)}: {m.group(1)}"
        for path in src.rglob("*.py")
        if path != Path(ev.__file__)
        for m in pattern.finditer(path.read_text())
    ]
    assert offenders == []
