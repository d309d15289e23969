"""The chat state folds gateway events, snapshots and link changes; pure, tested by tables."""

from __future__ import annotations

from typing import Any

import pytest

from nexus.client import ChatState, Link, Phase
from nexus.client import state as st
from nexus.protocol.events import decode


def sent(text: str = "hi", key: str = "k1", run_id: str = "run_1") -> ChatState:
    s = st.sending(ChatState(session="s"), key, text, now=100.0)
    run = {"run_id": run_id, "status": "queued", "message": text}
    return st.accepted(s, key, {"run_id": run_id, "ahead": 0, "run": run}, now=100.1)


def on(state: ChatState, name: str, payload: dict[str, Any], now: float) -> ChatState:
    """Fold one event as it arrives on the wire (decoded by the vocabulary, as the client does)."""
    decoded = decode(name, payload)
    assert decoded is not None, name
    return st.event(state, decoded, now)


def fold(state: ChatState, *events: tuple[str, dict[str, Any]], now: float = 101.0) -> ChatState:
    for name, payload in events:
        state = on(state, name, payload, now)
    return state


R = {"run_id": "run_1", "session": "s"}


@pytest.mark.parametrize(
    ("events", "phase", "fields"),
    [
        ([("run.accepted", {**R, "ahead": 2})], Phase.QUEUED, {"ahead": 2}),
        ([("run.status", {**R, "state": "running", "attempt": 1})], Phase.RUNNING, {"text": ""}),
        (
            [("run.status", {**R, "state": "calling", "model": "a/opus", "profile": "a:one"})],
            Phase.CALLING,
            {"model": "a/opus", "profile": "a:one"},
        ),
        (
            [("run.status", {**R, "state": "refreshing", "profile": "a:cli"})],
            Phase.REFRESHING,
            {"profile": "a:cli"},
        ),
        (
            [("run.delta", {**R, "text": "Hel"}), ("run.delta", {**R, "text": "lo"})],
            Phase.STREAMING,
            {"text": "Hello"},
        ),
        (
            [
                ("run.delta", {**R, "text": "partial"}),
                (
                    "run.fallback",
                    {**R, "from": "a/opus", "to": "a/haiku", "reason": "overloaded", "after_tokens": True},
                ),
            ],
            Phase.STREAMING,
            {
                "text": "",
                "model": "a/haiku",
                "fallback": "overloaded on a/opus -> trying a/haiku (partial answer discarded)",
            },
        ),
        (
            [
                (
                    "run.fallback",
                    {**R, "from": "a/opus", "to": "a/sonnet", "reason": "rate_limit", "after_tokens": False},
                )
            ],
            Phase.QUEUED,
            {"fallback": "rate-limited on a/opus -> trying a/sonnet"},
        ),
        (
            [
                ("run.delta", {**R, "text": "x"}),
                ("run.final", {**R, "status": "done", "text": "Hello", "model": "a/opus"}),
            ],
            Phase.DONE,
            {"text": "Hello", "model": "a/opus", "finished_after": pytest.approx(1.0)},
        ),
        (
            [
                (
                    "run.error",
                    {
                        **R,
                        "status": "failed",
                        "error": "a/opus: auth\nfix: nexus auth login",
                        "soonest_retry": 5.0,
                    },
                )
            ],
            Phase.FAILED,
            {"error": "a/opus: auth\nfix: nexus auth login", "soonest_retry": 5.0},
        ),
        # a resumed run (gateway restarted) starts its answer again
        (
            [("run.delta", {**R, "text": "old"}), ("run.status", {**R, "state": "running", "attempt": 2})],
            Phase.RUNNING,
            {"text": "", "notes": ("resumed by the gateway (attempt 2)",)},
        ),
        # tool steps: the line says which call runs; an ended call becomes a note
        (
            [
                (
                    "run.tool",
                    {**R, "call_id": "c1", "tool": "exec", "state": "started", "summary": "git status"},
                )
            ],
            Phase.TOOL,
            {"tool": "exec: git status"},
        ),
        (
            [
                ("run.delta", {**R, "text": "Let me look. "}),
                ("run.tool", {**R, "call_id": "c1", "tool": "list_dir", "state": "started", "summary": "."}),
                ("run.tool", {**R, "call_id": "c1", "tool": "list_dir", "state": "done", "summary": "a.txt"}),
            ],
            Phase.RUNNING,
            {"tool": None, "text": "Let me look. ", "notes": ("list_dir: a.txt (done)",)},
        ),
        (
            [
                (
                    "approval.requested",
                    {
                        "approval_id": "apr_1",
                        "run_id": "run_1",
                        "session": "s",
                        "tool": "exec",
                        "summary": "git push",
                    },
                )
            ],
            Phase.APPROVAL,
            {"approval": "apr_1: git push — `nexus approve apr_1` or deny"},
        ),
        (
            [
                (
                    "approval.requested",
                    {"approval_id": "apr_1", "run_id": "run_1", "session": "s", "tool": "exec"},
                ),
                (
                    "approval.resolved",
                    {"approval_id": "apr_1", "run_id": "run_1", "session": "s", "decision": "approved"},
                ),
            ],
            Phase.RUNNING,
            {"approval": None},
        ),
        # nothing changes a finished run, and events of other runs are ignored
        (
            [("run.final", {**R, "status": "done", "text": "A"}), ("run.delta", {**R, "text": "late"})],
            Phase.DONE,
            {"text": "A"},
        ),
        (
            [("run.delta", {"run_id": "run_other", "text": "x"}), ("tick", {"time": 1})],
            Phase.QUEUED,
            {"text": ""},
        ),
    ],
)
def test_events_fold_into_the_run(
    events: list[tuple[str, dict[str, Any]]], phase: Phase, fields: dict[str, Any]
) -> None:
    view = fold(sent(), *events).run("k1")
    assert view is not None
    assert view.phase is phase
    for name, value in fields.items():
        assert getattr(view, name) == value, name


def test_accepted_event_before_the_send_response_is_merged_not_duplicated() -> None:
    s = st.sending(ChatState(session="s"), "k1", "hi", now=100.0)
    s = on(s, "run.accepted", {**R, "ahead": 1, "message": "hi"}, now=100.05)
    s = on(s, "run.status", {**R, "state": "calling", "model": "m", "profile": "p"}, now=100.06)
    s = st.accepted(s, "k1", {"run_id": "run_1", "ahead": 1, "run": {**R, "status": "queued"}}, now=100.1)
    assert [(r.key, r.run_id, r.phase) for r in s.runs] == [("k1", "run_1", Phase.CALLING)]


def test_another_clients_message_in_the_session_is_shown() -> None:
    s = fold(
        sent(), ("run.accepted", {"run_id": "run_2", "session": "s", "ahead": 1, "message": "from phone"})
    )
    assert [r.message for r in s.runs] == ["hi", "from phone"]


@pytest.mark.parametrize(
    ("snapshot", "resync", "check", "phase", "text", "checked"),
    [
        ({**R, "status": "running", "active": True}, True, False, Phase.RUNNING, "", None),
        ({**R, "status": "done", "text": "full answer"}, True, False, Phase.DONE, "full answer", None),
        (
            {**R, "status": "running", "active": True},
            False,
            True,
            Phase.STREAMING,
            "par",
            "gateway says: running, a worker is answering it",
        ),
        (
            {**R, "status": "queued", "ahead": 3},
            False,
            True,
            Phase.QUEUED,
            "par",
            "gateway says: queued behind 3 messages",
        ),
        ({**R, "status": "done", "text": "lost final"}, False, True, Phase.DONE, "lost final", None),
    ],
)
def test_snapshots_resync_and_check(
    snapshot: dict[str, Any], resync: bool, check: bool, phase: Phase, text: str, checked: str | None
) -> None:
    s = fold(sent(), ("run.delta", {**R, "text": "par"}))
    view = st.snapshot(s, snapshot, now=140.0, resync=resync, check=check).run("k1")
    assert view is not None
    assert (view.phase, view.text, view.checked) == (phase, text, checked)


def test_an_event_after_a_check_clears_what_the_check_said() -> None:
    s = st.snapshot(sent(), {**R, "status": "running", "active": False}, now=131.0, check=True)
    assert s.run("k1").checked == "gateway says: running, no worker holds it yet"  # type: ignore[union-attr]
    s = fold(s, ("run.delta", {**R, "text": "a"}), now=132.0)
    assert s.run("k1").checked is None  # type: ignore[union-attr]


def test_cooldowns_are_kept_per_model_and_profile() -> None:
    s = ChatState(session="s")
    s = on(s, "model.cooldown", {"model": "m1", "profile": "p", "reason": "rate_limit", "until": 50}, 1.0)
    s = on(s, "model.cooldown", {"model": "m1", "profile": "p", "reason": "overloaded", "until": 60}, 1.0)
    s = on(s, "model.cooldown", {"model": "m2", "profile": None, "reason": "auth", "until": 70}, 1.0)
    assert [(c.model, c.reason, c.until) for c in s.cooldowns] == [
        ("m1", "overloaded", 60),
        ("m2", "auth", 70),
    ]


def test_link_refused_and_abandoned() -> None:
    s = st.set_link(sent(), Link.RECONNECTING, attempt=3, detail="lost")
    assert (s.link, s.attempt) == (Link.RECONNECTING, 3)
    s = st.abandoned(s, "k1", "no answer within 5s", now=105.0)
    assert s.run("k1").phase is Phase.ABANDONED  # type: ignore[union-attr]
    assert st.refused(s, "k1", "x", 106.0) is s  # finished runs stay as they ended


@pytest.mark.parametrize(
    ("reason", "phrase"),
    [
        ("rate_limit", "rate-limited"),
        ("rate_limit: retry in 2s", "rate-limited (retry in 2s)"),
        ("auth_permanent", "auth failed"),
        ("something new", "something new"),
    ],
)
def test_reason_phrases(reason: str, phrase: str) -> None:
    assert st.reason_phrase(reason) == phrase


def test_owner_alerts_and_reauth_feed_the_alert_line() -> None:
    s = on(
        ChatState(session="s"),
        "alert",
        {
            "kind": "models_down",
            "subject": "models",
            "severity": "critical",
            "message": "no model answers",
            "remedy": "nexus doctor",
            "at": 1.0,
            "key": "models_down:models:critical",
        },
        1.0,
    )
    assert s.alert == "no model answers. Fix: nexus doctor"
    s = on(
        s,
        "auth.needs_reauth",
        {"profile": "a:b", "provider": "anthropic", "reason": "revoked", "message": "run nexus auth login"},
        2.0,
    )
    assert s.alert == "run nexus auth login"
