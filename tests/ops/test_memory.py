"""`nexus doctor` warns when workspace memory is cut to fit the prompt, with the numbers."""

from __future__ import annotations

from nexus.ops.doctor import run_doctor
from nexus.ops.findings import Severity
from tests.ops.conftest import World


def test_doctor_warns_about_a_memory_file_over_its_cap(world: World) -> None:
    world.config_text(f"[gateway]\nport = {world.port}\n[agent]\nmemory_file_chars = 1000\n")
    (world.paths.workspace / "SOUL.md").write_text("be kind")
    outcome = run_doctor(world.env())
    (fits,) = [f for f in outcome.findings if f.check == "memory"]
    assert fits.severity is Severity.OK and "SOUL.md" in fits.finding

    (world.paths.workspace / "MEMORY.md").write_text("fact\n" * 1000)
    outcome = run_doctor(world.env())
    (cut,) = [f for f in outcome.findings if f.check == "memory"]
    assert cut.severity is Severity.WARN and cut.counts
    assert "MEMORY.md: 999 characters kept of 5,000 bytes (per-file cap)" in cut.finding
    assert cut.remedy is not None and "memory_file_chars (1000)" in cut.remedy
