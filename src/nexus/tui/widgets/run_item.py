"""One message and its answer; re-rendered whenever the engine's view of the run changes."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from nexus.client import Phase, RunView


def render_run(view: RunView) -> Text:
    """Plain rich Text (never markup), so a model's answer cannot style or break the screen."""
    out = Text()
    out.append("you ", style="bold cyan")
    out.append(view.message + "\n")
    for note in view.notes:
        out.append(f"  ↪ {note}\n", style="yellow")
    if view.text:
        out.append("nexus ", style="bold green")
        out.append(view.text)
        if view.phase is Phase.STREAMING:
            out.append(" ▌", style="dim")
    if view.phase in (Phase.FAILED, Phase.ABANDONED) and view.error:
        out.append("\n" if view.text else "")
        label = "stopped waiting " if view.phase is Phase.ABANDONED else "failed "
        out.append(label, style="bold red")
        out.append(view.error, style="red")
    return out


class RunItem(Static):
    DEFAULT_CSS = """
    RunItem { padding: 0 1; margin-bottom: 1; }
    """

    view: reactive[RunView | None] = reactive(None, layout=True)

    def __init__(self, view: RunView) -> None:
        super().__init__()
        self.set_reactive(RunItem.view, view)

    def on_mount(self) -> None:
        self._show()

    def watch_view(self) -> None:
        self._show()

    def _show(self) -> None:
        if self.view is not None:
            self.update(render_run(self.view))


class Note(Static):
    """A line from the client itself (command output, help), not part of the conversation."""

    DEFAULT_CSS = """
    Note { padding: 0 1; margin-bottom: 1; color: $text-muted; }
    """

    def __init__(self, text: str) -> None:
        super().__init__(Text(text))
        self.text = text
