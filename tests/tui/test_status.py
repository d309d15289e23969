"""The status line is a pure function of state and time: every waiting state has its sentence."""

from __future__ import annotations

from dataclasses import replace

import pytest

from nexus.client import ChatState, Cooling, Link, Phase, RunView
from nexus.client.state import Attempt
from nexus.tui.status import status_line


def fmt(epoch: float) -> str:
    return f"T{epoch:g}"


RUN = RunView(key="k", message="hi", started=100.0, last_event=100.0, run_id="run_1", phase=Phase.QUEUED)
UP = ChatState(session="main", link=Link.CONNECTED)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (ChatState(session="main"), "connecting to the gateway… · session main"),
        (UP, "connected · session main"),
        (replace(UP, runs=(replace(RUN, phase=Phase.SENDING),)), "connected · session main · sending… · 12s"),
        (
            replace(UP, runs=(replace(RUN, ahead=2),)),
            "connected · session main · queued behind 2 messages · 12s",
        ),
        (
            replace(UP, runs=(replace(RUN, ahead=1),)),
            "connected · session main · queued behind 1 message · 12s",
        ),
        (
            replace(
                UP, runs=(replace(RUN, phase=Phase.CALLING, model="anthropic/opus", profile="anthropic:cli"),)
            ),
            "connected · session main · calling anthropic/opus (anthropic:cli) · 12s",
        ),
        (
            replace(
                UP,
                runs=(
                    replace(RUN, phase=Phase.CALLING, model="b", fallback="rate-limited on a -> trying b"),
                ),
            ),
            "connected · session main · rate-limited on a -> trying b · 12s",
        ),
        (
            replace(UP, runs=(replace(RUN, phase=Phase.REFRESHING, profile="anthropic:cli"),)),
            "connected · session main · refreshing credentials for anthropic:cli · 12s",
        ),
        (
            replace(UP, runs=(replace(RUN, phase=Phase.STREAMING, model="m"),)),
            "connected · session main · answering with m · 12s",
        ),
        (
            replace(
                UP,
                runs=(
                    replace(
                        RUN, phase=Phase.RUNNING, checked="gateway says: running, a worker is answering it"
                    ),
                ),
            ),
            "connected · session main · no event for a while; gateway says: running, a worker is answering it · 12s",
        ),
        (
            replace(UP, runs=(replace(RUN, phase=Phase.DONE, model="m", finished_after=3.25),)),
            "connected · session main · answered by m in 3.2s",
        ),
        (
            replace(
                UP,
                runs=(
                    replace(
                        RUN,
                        phase=Phase.FAILED,
                        error="anthropic/opus (anthropic:cli): auth failed\n  fix: run `nexus auth login anthropic`",
                    ),
                ),
            ),
            "connected · session main · failed: fix: run `nexus auth login anthropic`",
        ),
        (
            replace(
                UP,
                runs=(
                    replace(
                        RUN, phase=Phase.FAILED, error="a: rate_limit\nb: overloaded", soonest_retry=500.0
                    ),
                ),
            ),
            "connected · session main · failed: every candidate cooling until T500 (a: rate_limit; b: overloaded)",
        ),
        (
            replace(
                UP,
                runs=(
                    replace(
                        RUN,
                        phase=Phase.FAILED,
                        error="no model could answer:\n  - ...",
                        soonest_retry=500.0,
                        attempts=(
                            Attempt("anthropic/opus", "anthropic:cli", "auth", 401, "invalid x-api-key"),
                            Attempt("anthropic/haiku", "anthropic:cli", "skipped:cooling:auth"),
                        ),
                    ),
                ),
            ),
            "connected · session main · failed: auth failed for anthropic:cli (401: invalid x-api-key) — fix: "
            "`nexus auth list` shows the profile; replace it with `nexus auth add-key anthropic` (API key) "
            "or `nexus auth login anthropic` (subscription)",
        ),
        (
            replace(
                UP,
                runs=(
                    replace(
                        RUN,
                        phase=Phase.FAILED,
                        error="no model could answer:\n  - anthropic/haiku [anthropic:inteia] auth_permanent\n"
                        "  fix: run `nexus auth login anthropic --profile inteia`",
                        attempts=(Attempt("anthropic/haiku", "anthropic:inteia", "auth_permanent"),),
                    ),
                ),
            ),
            "connected · session main · failed: auth failed for anthropic:inteia — fix: "
            "fix: run `nexus auth login anthropic --profile inteia`",
        ),
        (
            replace(
                UP,
                runs=(
                    replace(
                        RUN,
                        phase=Phase.FAILED,
                        error="no model could answer:",
                        soonest_retry=500.0,
                        attempts=(
                            Attempt("a/opus", "p", "rate_limit", 429),
                            Attempt("a/haiku", "p", "skipped:cooling:overloaded"),
                        ),
                    ),
                ),
            ),
            "connected · session main · failed: every candidate cooling until T500 (a/opus: rate-limited; "
            "a/haiku: overloaded)",
        ),
        (
            replace(
                UP,
                runs=(replace(RUN, phase=Phase.ABANDONED, error="no answer within the 300s run deadline"),),
            ),
            "connected · session main · gave up: no answer within the 300s run deadline",
        ),
        (
            replace(UP, link=Link.RECONNECTING, attempt=3, runs=(replace(RUN, phase=Phase.RUNNING),)),
            "gateway restarting — reconnecting (attempt 3) · session main · starting · 12s",
        ),
        (
            replace(
                UP,
                link=Link.NOT_RUNNING,
                attempt=1,
                link_detail="the gateway is not running at 127.0.0.1:1: start it with `nexus up`",
            ),
            "the gateway is not running at 127.0.0.1:1: start it with `nexus up` · session main",
        ),
        (
            replace(UP, link=Link.NOT_RUNNING, attempt=4, link_detail="not running: `nexus up`"),
            "not running: `nexus up` (retrying, attempt 4) · session main",
        ),
        (
            replace(UP, link=Link.FAILED, link_detail="the gateway refused the token: see `nexus token`"),
            "the gateway refused the token: see `nexus token` · session main",
        ),
        (
            replace(
                UP,
                cooldowns=(
                    Cooling("a/opus", "p", "rate_limit", 2000.0),
                    Cooling("a/old", None, "auth", 10.0),
                ),
            ),
            "connected · session main · cooling — a/opus: rate-limited until T2000",
        ),
        (
            replace(UP, runs=(replace(RUN, phase=Phase.TOOL, tool="exec: git status"),)),
            "connected · session main · running exec: git status · 12s",
        ),
        (
            replace(
                UP,
                runs=(
                    replace(
                        RUN, phase=Phase.APPROVAL, approval="apr_1: git push — `nexus approve apr_1` or deny"
                    ),
                ),
            ),
            "connected · session main · waiting for your approval apr_1: git push — `nexus approve apr_1` or deny · 12s",
        ),
        (
            replace(UP, alert="anthropic:cli expires in 2 days"),
            "connected · session main · alert: anthropic:cli expires in 2 days",
        ),
    ],
)
def test_status_line(state: ChatState, expected: str) -> None:
    assert status_line(state, now=112.0, wall_now=1000.0, fmt_time=fmt) == expected
