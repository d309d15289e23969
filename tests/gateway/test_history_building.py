"""The tool loop's history goes through the compactor: an overflowing session is summarised before the
turn (the summary in the system prompt, the folded runs left out), and a heartbeat carries no history."""

from __future__ import annotations

from pathlib import Path

from nexus.common.paths import NexusPaths
from nexus.config.schema import AgentConfig, NexusConfig
from nexus.gateway.compactor import SUMMARY_HEADER
from nexus.gateway.runtime import GatewayRuntime
from nexus.schedule import HEARTBEAT_JOB
from nexus.store.cron import CRON_CHANNEL
from tests.gateway.conftest import ScriptedRouter


async def _answered(runtime: GatewayRuntime, **accept: str) -> None:
    run, _ = runtime.accept(**accept)
    done = await runtime.wait_run(run.id, 30)
    assert done is not None and done.status.finished and done.answer, done


async def test_an_overflowing_session_is_compacted_before_the_turn(tmp_path: Path) -> None:
    config = NexusConfig(agent=AgentConfig(context_chars=1_000, compact_keep_turns=1))
    router = ScriptedRouter()
    runtime = GatewayRuntime.open(config=config, paths=NexusPaths(home=tmp_path / "home"), router=router)
    await runtime.start()
    try:
        for i in range(4):
            await _answered(runtime, session="long", text=f"turn {i} " + "x" * 300)
        turns = [t for t in router.calls if not t.run_id.endswith(":compact")]
        summaries = [t for t in router.calls if t.run_id.endswith(":compact")]
        assert summaries, "no summary was asked for"
        last = turns[-1]
        assert last.system is not None and SUMMARY_HEADER in last.system
        sent = " ".join(str(m.content) for m in last.messages)
        assert "turn 0" not in sent and "turn 2" in sent and "turn 3" in sent
        rows = runtime.store.conn.execute("SELECT count(*) FROM session_summaries WHERE session = 'long'")
        assert rows.fetchone()[0] >= 1
    finally:
        await runtime.close()


async def test_a_heartbeat_turn_carries_no_history_but_a_job_session_does(tmp_path: Path) -> None:
    router = ScriptedRouter()
    runtime = GatewayRuntime.open(
        config=NexusConfig(), paths=NexusPaths(home=tmp_path / "home"), router=router
    )
    await runtime.start()
    try:
        for text in ("beat one", "beat two"):
            await _answered(
                runtime, session=HEARTBEAT_JOB, text=text, channel=CRON_CHANNEL, sender=HEARTBEAT_JOB
            )
        for text in ("job one", "job two"):
            await _answered(runtime, session="cron:job", text=text, channel=CRON_CHANNEL, sender="job")
        beat, job = router.calls[1], router.calls[3]
        assert [m.content for m in beat.messages] == ["beat two"]
        assert len(job.messages) == 3 and "job one" in str(job.messages[0].content)
    finally:
        await runtime.close()
