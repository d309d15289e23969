"""The memory files in the system prompt: fixed order, caps, and cuts that are always visible."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus.gateway.persona import Persona
from nexus.memory import FileText, assemble, read_workspace


def files(**texts: str) -> dict[str, FileText | None]:
    return {f"{name}.md": FileText(text, len(text)) for name, text in texts.items()}


def test_fixed_order_whatever_the_mapping_order() -> None:
    out = assemble(files(MEMORY="fact: likes tea", USER="name: Ana", SOUL="be kind", AGENTS="never rm -rf"))
    assert out.prompt is not None and out.cuts == ()
    positions = [out.prompt.index(s) for s in ("never rm -rf", "be kind", "name: Ana", "likes tea")]
    assert positions == sorted(positions)
    assert out.included == ("AGENTS.md", "SOUL.md", "USER.md", "MEMORY.md")


def test_missing_and_empty_files_are_left_out_and_nothing_gives_none() -> None:
    assert assemble({}).prompt is None
    out = assemble({**files(SOUL="  \n", USER="Ana"), "AGENTS.md": None})
    assert out.included == ("USER.md",) and out.cuts == ()


def test_per_file_cap_keeps_the_head_and_says_so_in_the_prompt() -> None:
    memory = "\n".join(f"fact {i}: {'x' * 40}" for i in range(200))
    out = assemble(files(AGENTS="rules", MEMORY=memory), file_chars=1_000, total_chars=10_000)
    (cut,) = out.cuts
    assert cut.name == "MEMORY.md" and cut.reason == "per-file cap" and 800 <= cut.kept <= 1_000
    assert out.prompt is not None
    assert "fact 0:" in out.prompt and "fact 199:" not in out.prompt
    assert (
        f"[MEMORY.md cut: {cut.kept:,} characters shown of {len(memory):,} characters (per-file cap)"
        in out.prompt
    )
    assert "[Note: some workspace memory did not fit the prompt" in out.prompt


def test_total_cap_is_spent_in_order_so_rules_survive() -> None:
    out = assemble(
        files(AGENTS="A" * 900, SOUL="S" * 900, USER="U" * 900, MEMORY="M" * 900),
        file_chars=1_000,
        total_chars=2_000,
    )
    assert out.prompt is not None and "A" * 900 in out.prompt and "S" * 900 in out.prompt
    assert [(c.name, c.reason) for c in out.cuts] == [("USER.md", "total cap"), ("MEMORY.md", "total cap")]
    assert out.cuts[1].kept == 0


def test_a_huge_file_is_read_only_as_far_as_the_cap_needs(tmp_path: Path) -> None:
    (tmp_path / "MEMORY.md").write_text("m" * 5_000_000)
    read = read_workspace(tmp_path, file_chars=1_000)
    found = read["MEMORY.md"]
    assert found is not None and found.length is None and len(found.text) <= 4_004
    out = assemble(read, file_chars=1_000, total_chars=5_000)
    assert out.cuts[0].size_text == "5,000,000 bytes"


@pytest.mark.parametrize("edit", ["append", "none"])
def test_persona_rereads_on_change_and_keeps_a_stable_prompt_otherwise(tmp_path: Path, edit: str) -> None:
    (tmp_path / "SOUL.md").write_text("be brief")
    persona = Persona(tmp_path, file_chars=500, total_chars=1_000)
    first = persona.system_prompt()
    if edit == "append":
        (tmp_path / "MEMORY.md").write_text("y" * 800)
        second = persona.system_prompt()
        assert second != first and persona.cuts and persona.cuts[0].name == "MEMORY.md"
    else:
        assert persona.system_prompt() == first and persona.cuts == ()
