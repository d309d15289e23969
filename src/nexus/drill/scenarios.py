"""The drill's scenarios: each injects one failure of the incident into a running sandbox, keeps
traffic flowing, and measures recovery (see :class:`nexus.drill.report.Result`).

Every scenario leaves the sandbox healthy for the next one (one sandbox is shared, in this order,
which is also the order of the table): faults that heal themselves are waited out, faults the world
must end (providers down, a deaf channel) are ended by the drill once the truth is shown.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from nexus.agent.workspace import Workspace
from nexus.drill import faults
from nexus.drill.report import Budget, Result, judge
from nexus.drill.sandbox import OAUTH_PROFILE, OWNER_CHAT, Sandbox, wait_for
from nexus.drill.traffic import Tally, Traffic, first_answer_after
from nexus.fakes.anthropic_server import Error, FakeToolCall, ToolUse

SETTLE_S = 60.0


@dataclass(frozen=True)
class Scenario:
    name: str
    about: str
    run: Callable[[Sandbox], Result]


def _supervisor(box: Sandbox) -> dict[str, Any]:
    return box.config.get("supervisor", {})


def _s(box: Sandbox, key: str, default: float) -> float:
    return float(_supervisor(box).get(key, default))


def restart_budget(box: Sandbox, extra_s: float = 0.0) -> float:
    """A restart may cost one cold start of this machine, as measured when the sandbox started (a
    loaded 2-core box is slower than an idle one), plus 3 s, plus the fault's own detection time."""
    return round(box.cold_start_s + 3.0 + extra_s, 1)


def worst_wait(tally: Tally, since: float) -> float | None:
    """Pure: the longest wait for an answer among messages sent at or after ``since``."""
    waits = [done - sent for sent, done in tally.answered_at if sent >= since]
    return round(max(waits), 3) if waits else None


def _measure(
    box: Sandbox,
    name: str,
    *,
    budget: Budget,
    inject: Callable[[], Any],
    truth: Callable[[], str | None],
    alert: str | None = None,
    heal: Callable[[], None] | None = None,
    truth_timeout: float,
    note: str = "",
) -> Result:
    """Traffic on; inject; time the truth; heal if the world must; time the recovery; count."""
    box.settle_ready(timeout=budget.restored_s + 60)
    box.forget_alerts()
    cause = ""
    with Traffic(box, label=name) as traffic:
        time.sleep(0.2)  # a few normal answers first
        t0 = time.time()
        inject()

        def seen() -> str | None:
            found = truth()
            if not found or (alert and not box.alert_since(alert, t0 - 1)):
                return None
            return found

        cause = wait_for(seen, timeout=truth_timeout, poll=0.02) or ""
        truth_s = round(time.time() - t0, 3) if cause else None
        since = t0
        if heal is not None:
            heal()
            since = time.time()
        traffic.wait_answered_after(since, timeout=budget.restored_s + 30)
        time.sleep(0.2)  # a few more, to prove it
    tally = traffic.settle(timeout=SETTLE_S)
    restored = worst_wait(tally, since) if heal is None else first_answer_after(tally, since)
    return judge(
        Result(
            name=name,
            restored_s=restored,
            refused=tally.refused,
            lost=tally.lost,
            duplicated=tally.duplicated,
            truth_s=truth_s,
            budget=budget,
            sent=tally.sent,
            failed=tally.failed,
            cause=cause,
            alert=alert,
            note=note,
        )
    )


def _last_exit(box: Sandbox, generation: int) -> dict[str, Any] | None:
    gw = box.supervisor_status().get("gateway") or {}
    if int(gw.get("generation") or 0) <= generation:
        return None
    return gw.get("last_exit") or None


# --------------------------------------------------------------------------- supervisor faults


def kill9(box: Sandbox) -> Result:
    state: dict[str, int] = {}

    def inject() -> None:
        state["gen"] = box.generation()
        pid = box.gateway_pid()
        assert pid, "no ready gateway to kill"
        faults.kill(pid)

    def truth() -> str | None:
        last = _last_exit(box, state["gen"])
        return f"last_exit: {last.get('cause')}, signal 9" if last and last.get("signal") == 9 else None

    return _measure(
        box,
        "kill9",
        budget=Budget(restored_s=restart_budget(box), truth_s=5.0),
        inject=inject,
        truth=truth,
        truth_timeout=20,
    )


def hang(box: Sandbox) -> Result:
    state: dict[str, int] = {}
    timeout_s = _s(box, "watchdog_timeout_s", 5.0)

    def inject() -> None:
        state["gen"], state["pid"] = box.generation(), box.gateway_pid() or 0
        faults.kill(state["pid"], signal.SIGSTOP)

    def truth() -> str | None:
        last = _last_exit(box, state["gen"])
        # "stopped" where the supervisor sees the SIGSTOP itself, "watchdog" where only silence shows
        return (
            f"last_exit: {last.get('cause')}"
            if last and last.get("cause") in ("stopped", "watchdog")
            else None
        )

    result = _measure(
        box,
        "hang",
        budget=Budget(restored_s=restart_budget(box, timeout_s), truth_s=timeout_s + 5.0),
        inject=inject,
        truth=truth,
        truth_timeout=timeout_s + 30,
    )
    faults.kill(state["pid"], signal.SIGCONT)  # in case it outlived the drill: it must not stay stopped
    return result


def orphan(box: Sandbox) -> Result:
    why = faults.pidfd_getfd_available()
    if why:
        return Result("orphan", available=False, note=f"not available on this host: {why}")
    state: dict[str, Any] = {}

    def inject() -> None:
        pid = box.gateway_pid()
        assert pid, "no ready gateway"
        state["gen"] = box.generation()
        state["orphan"] = faults.escaped_orphan(pid)  # holds the listening socket, accepts, never answers
        faults.kill(pid)

    def truth() -> str | None:
        proc = state["orphan"]
        last = _last_exit(box, state["gen"])
        if proc.poll() is None or not last:
            return None
        return f"orphan pid {proc.pid} killed by the supervisor (its marks); last_exit: {last.get('cause')}"

    try:
        return _measure(
            box,
            "orphan",
            budget=Budget(restored_s=restart_budget(box), truth_s=6.0),
            inject=inject,
            truth=truth,
            truth_timeout=30,
        )
    finally:
        proc = state.get("orphan")
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
            if proc.stdout:
                proc.stdout.close()


def crash_loop(box: Sandbox) -> Result:
    cap = _s(box, "backoff_max_s", 60.0)
    exits = int(_s(box, "crash_loop_exits", 5))

    def in_loop() -> bool:
        return (box.supervisor_status().get("supervisor") or {}).get("state") == "crash-loop"

    def any_pid() -> int | None:
        gw = box.supervisor_status().get("gateway") or {}
        return gw.get("pid") if gw.get("state") in ("starting", "ready") else None

    seen: dict[str, str] = {}

    def looping() -> bool:
        if in_loop():
            last = (box.supervisor_status().get("gateway") or {}).get("last_exit") or {}
            seen["cause"] = f"supervisor: crash-loop, last cause {last.get('cause')}"
        return bool(seen)

    def inject() -> None:
        faults.kill_each_new_generation(any_pid, until=looping, timeout=exits * (cap + 5) + 30)

    def truth() -> str | None:
        return seen.get("cause")

    return _measure(
        box,
        "crash_loop",
        budget=Budget(restored_s=restart_budget(box, cap), truth_s=exits * (cap + 2.0) + 10.0),
        inject=inject,
        truth=truth,
        alert="crash_loop",
        truth_timeout=30,
        note=f"{exits} quick deaths at start make a crash loop; then one retry per backoff_max_s ({cap:g}s)",
    )


# --------------------------------------------------------------------------- credentials


def _oauth_entry(box: Sandbox) -> dict[str, Any]:
    return dict(json.loads(box.paths.auth_store.read_text())["profiles"][OAUTH_PROFILE])


def _profile(box: Sandbox, name: str) -> dict[str, Any]:
    for entry in (box.gateway_status().get("auth") or {}).get("profiles") or []:
        if entry.get("name") == name:
            return dict(entry)
    return {}


def token_expiring(box: Sandbox) -> Result:
    ttl = 4.0
    state: dict[str, Any] = {}

    def inject() -> None:
        state["refreshes"] = box.oauth.refreshes
        grant = box.oauth.issue(email="drill@example.com", ttl=ttl)
        box.write_profiles(grant)
        state["expires"] = grant.expires_at

    def truth() -> str | None:
        profile = _profile(box, OAUTH_PROFILE)
        if (
            box.oauth.refreshes > state["refreshes"]
            and float(profile.get("expires_at") or 0) > state["expires"]
        ):
            return f"{OAUTH_PROFILE} refreshed ahead of expiry, state {profile.get('state')}"
        return None

    return _measure(
        box,
        "token_expiring",
        budget=Budget(restored_s=2.0, truth_s=ttl + 3.0),
        inject=inject,
        truth=truth,
        truth_timeout=ttl + 20,
        note=f"an OAuth access token living {ttl:g}s; no alert is due when the refresh works",
    )


def refresh_spent(box: Sandbox) -> Result:
    ttl = 4.0

    def inject() -> None:
        grant = box.oauth.issue(email="drill@example.com", ttl=ttl)
        box.write_profiles(grant)
        faults.spend_refresh_token(box.oauth.token_url, grant.refresh)  # the sibling wins the race

    def truth() -> str | None:
        profile = _profile(box, OAUTH_PROFILE)
        return f"{OAUTH_PROFILE}: needs_reauth" if profile.get("state") == "needs_reauth" else None

    def heal() -> None:  # the owner logs in again
        box.write_profiles(box.oauth.issue(email="drill@example.com"))

    return _measure(
        box,
        "refresh_spent",
        budget=Budget(restored_s=2.0, truth_s=ttl + 5.0),
        inject=inject,
        truth=truth,
        alert="needs_reauth",
        heal=heal,
        truth_timeout=ttl + 30,
        note="the sibling refreshed first; the access token then expired; the second profile serves",
    )


# --------------------------------------------------------------------------- providers


def _primary(box: Sandbox) -> tuple[str, str]:
    models = box.config.get("models", {})
    provider, _, model = str(models.get("primary", "anthropic/claude-opus-4-5")).partition("/")
    return provider, model


def _fake_for(box: Sandbox, provider: str) -> Any:
    kind = (box.config.get("providers", {}).get(provider) or {}).get("kind", "anthropic")
    return box.anthropic if kind == "anthropic" else box.openai


def rate_limit_storm(box: Sandbox) -> Result:
    provider, model = _primary(box)
    fake = _fake_for(box, provider)

    def inject() -> None:
        fake.always(model, Error(429, retry_after=1))

    def truth() -> str | None:
        for c in box.gateway_status().get("candidates") or []:
            if c.get("model") == f"{provider}/{model}" and c.get("cooling_until"):
                return f"{provider}/{model} cooling ({c.get('reason') or 'rate limit'})"
        return None

    return _measure(
        box,
        "rate_limit_storm",
        budget=Budget(restored_s=2.0, truth_s=3.0),
        inject=inject,
        truth=truth,
        heal=lambda: fake.always(model, None),
        truth_timeout=20,
        note="every request to the primary gets 429; the fallbacks answer",
    )


def providers_down(box: Sandbox) -> Result:
    def inject() -> None:
        for fake in (box.anthropic, box.openai):
            fake.always(None, Error(529, retry_after=1))

    def truth() -> str | None:
        reasons = box.gateway_status().get("not_ready_reasons") or []
        return "models_down alert" + (f"; /status: {reasons[0]}" if reasons else "")

    return _measure(
        box,
        "providers_down",
        budget=Budget(restored_s=5.0, truth_s=float(box.config["alerts"]["models_down_after_s"]) + 3.0),
        inject=inject,
        truth=truth,
        alert="models_down",
        heal=box.heal,
        truth_timeout=30,
        note="every provider answers 529; messages end with an explained failure, none hang",
    )


# --------------------------------------------------------------------------- channels


def channel_deaf(box: Sandbox) -> Result:
    tg = box.telegram
    box.settle_ready(timeout=30)
    before = dict((box.gateway_status().get("channels") or {}).get("telegram") or {})
    t0 = time.time()
    tg.stall = True
    texts = [f"deaf {t0:.0f} {i}" for i in range(3)]

    def truth() -> str | None:
        ch = (box.gateway_status().get("channels") or {}).get("telegram") or {}
        if (
            int(ch.get("reconnects") or 0) > int(before.get("reconnects") or 0)
            or ch.get("transport_alive") is False
        ):
            return f"channels.telegram: {ch.get('state')}, {ch.get('last_error') or 'transport not alive'}"
        return None

    time.sleep(0.2)
    for text in texts[:2]:
        tg.push_message(chat_id=OWNER_CHAT, text=text)  # written while the bot hears nothing
    cause = wait_for(truth, timeout=30, poll=0.05) or ""
    truth_s = round(time.time() - t0, 3) if cause else None
    tg.stall = False
    healed = time.time()
    tg.push_message(chat_id=OWNER_CHAT, text=texts[2])

    def replies() -> dict[str, int]:
        return {t: sum(1 for m in tg.sent(OWNER_CHAT) if t in m.text) for t in texts}

    answered = wait_for(lambda: all(replies().values()), timeout=30, poll=0.05)
    restored_s = round(time.time() - healed, 3) if answered else None
    time.sleep(0.5)  # a late second answer would show here
    counts = replies()
    return judge(
        Result(
            name="channel_deaf",
            restored_s=restored_s,
            lost=sum(1 for n in counts.values() if n == 0),
            duplicated=sum(max(0, n - 1) for n in counts.values()),
            truth_s=truth_s,
            budget=Budget(restored_s=5.0, truth_s=5.0),
            sent=len(texts),
            cause=cause,
            note="Telegram long polls swallowed (half-open); 2 messages written meanwhile, 1 after",
        )
    )


TOOL_MARK = "drill-tool-crash.log"
"""Written by the drill's ``exec`` call in the sandbox's workspace: one line per time it really ran."""


def tool_crash(box: Sandbox) -> Result:
    """kill -9 while an ``exec`` call runs (its side effect done, the command still running): the
    resumed run must report the call as interrupted to the model and never run it again."""
    provider, model = _primary(box)
    fake = _fake_for(box, provider)
    box.settle_ready(timeout=60)
    mark = Workspace.for_home(box.paths).root / TOOL_MARK
    mark.unlink(missing_ok=True)
    command = f"echo ran >> {TOOL_MARK} && sleep 60"
    fake.script(model, ToolUse(calls=(FakeToolCall("exec", {"command": command}),)))  # then: echo
    budget = Budget(restored_s=restart_budget(box), truth_s=restart_budget(box))
    sent = box.http().post(
        "/api/messages", json={"session": "drill:tool_crash", "text": "run the drill's tool"}
    )
    run_id = sent.json().get("run_id") if sent.status_code == 202 else None

    def times_ran() -> int:
        return mark.read_text(encoding="utf-8").count("ran") if mark.exists() else 0

    if run_id is None or not wait_for(times_ran, timeout=30, poll=0.02):
        fake.reset()
        return judge(
            Result(
                "tool_crash",
                lost=1,
                sent=1,
                budget=budget,
                note=f"the tool never ran (HTTP {sent.status_code})",
            )
        )
    generation, pid = box.generation(), box.gateway_pid()
    assert pid, "no ready gateway to kill"
    t0 = time.time()
    faults.kill(pid)

    def finished() -> dict[str, Any] | None:
        try:
            run = box.http().get(f"/api/runs/{run_id}", timeout=2.0).json()
        except (httpx.HTTPError, ValueError):
            return None
        return run if run.get("status") in ("done", "failed") else None

    run = wait_for(finished, timeout=budget.restored_s + 30, poll=0.05)
    restored_s = round(time.time() - t0, 3) if run else None
    answer = str((run or {}).get("text") or "")
    interrupted = "interrupted" in answer and "not run again" in answer
    time.sleep(0.5)  # a second run of the command would show here
    ran = times_ran()
    last = _last_exit(box, generation) or {}
    return judge(
        Result(
            name="tool_crash",
            restored_s=restored_s,
            lost=0 if run and run.get("status") == "done" else 1,
            duplicated=max(0, ran - 1),
            truth_s=restored_s if interrupted else None,
            budget=budget,
            sent=1,
            cause=f"last_exit: {last.get('cause')}; the model was told: interrupted, effect unknown, not run again"
            if interrupted
            else f"answer: {answer[:120]!r}",
            note=f"kill -9 while `{command}` ran; the command ran {ran} time(s)",
        )
    )


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("kill9", "kill -9 of the gateway", kill9),
    Scenario("hang", "SIGSTOP of the gateway (a hang)", hang),
    Scenario("orphan", "an escaped child holding the listening socket, then the gateway killed", orphan),
    Scenario("token_expiring", "the OAuth access token expiring", token_expiring),
    Scenario("refresh_spent", "the refresh token spent by a sibling process", refresh_spent),
    Scenario("rate_limit_storm", "a 429 storm on the primary model", rate_limit_storm),
    Scenario("providers_down", "every provider down", providers_down),
    Scenario("channel_deaf", "Telegram going deaf (polls swallowed)", channel_deaf),
    Scenario("crash_loop", "a crash loop at start", crash_loop),
    Scenario("tool_crash", "a tool call interrupted by a crash", tool_crash),
)
BY_NAME = {s.name: s for s in SCENARIOS}
