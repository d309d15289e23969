"""The one place the loop looks for tools: names to tools, schemas for the model, input validation.

Parsing is where bad model output stops: an unknown tool or an input that does not match the schema
becomes a :class:`ToolError` naming the problem, which the loop returns to the model as an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from nexus.agent.tool import Tool, ToolError, ToolInput
from nexus.models.types import ToolSpec


class DuplicateTool(ValueError):
    pass


class ToolRegistry:
    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        self._specs: list[ToolSpec] | None = None
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise DuplicateTool(f"a tool named {tool.name!r} is already registered")
        self._tools[tool.name] = tool
        self._specs = None

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def specs(self) -> list[ToolSpec]:
        if self._specs is None:  # schemas are derived once, not per model call
            self._specs = [
                ToolSpec(name=t.name, description=t.description, input_schema=_schema(t.Input))
                for t in (self._tools[n] for n in self.names())
            ]
        return list(self._specs)

    def parse(self, name: str, raw: Any) -> tuple[Tool, ToolInput]:
        """The tool and its validated input, or a ToolError the model can act on."""
        tool = self._tools.get(name)
        if tool is None:
            raise ToolError(f"unknown tool {name!r}; the tools are: {', '.join(self.names())}")
        if not isinstance(raw, Mapping):
            raise ToolError(f"{name}: the input must be a JSON object, got {type(raw).__name__}")
        try:
            return tool, tool.Input.model_validate(dict(raw))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err.get('loc', ())) or 'input'}: {err.get('msg')}"
                for err in exc.errors()
            )
            raise ToolError(f"{name}: invalid input: {problems}") from None


def _schema(model: type[ToolInput]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return schema
