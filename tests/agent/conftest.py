"""A workspace, a real state database and the tool world over them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus.agent.loop import ToolWorld
from nexus.agent.registry import ToolRegistry
from nexus.agent.tool import ToolContext
from nexus.agent.tools import builtin_tools
from nexus.agent.workspace import Workspace
from nexus.common.paths import NexusPaths
from nexus.config.schema import AgentConfig, ToolsConfig
from nexus.store import RunStore, open_database
from nexus.store.approvals import ApprovalStore
from nexus.store.inbound import RouteStore
from nexus.store.outbox import Outbox


@pytest.fixture
def paths(tmp_path: Path) -> NexusPaths:
    p = NexusPaths(home=tmp_path / "home")
    p.ensure()
    return p


@pytest.fixture
def workspace(paths: NexusPaths) -> Workspace:
    return Workspace.for_home(paths)


@pytest.fixture
def store(paths: NexusPaths) -> Iterator[RunStore]:
    s = RunStore(open_database(paths.state_db))
    yield s
    s.close()


def make_ctx(
    workspace: Workspace, tmp: Path, *, settings: ToolsConfig | None = None, **kw: object
) -> ToolContext:
    return ToolContext(
        run_id="run_t",
        call_key="run_t:1:call_1",
        workspace=workspace,
        settings=settings or ToolsConfig(),
        spool=tmp / "spool.out",
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def ctx(workspace: Workspace, tmp_path: Path) -> ToolContext:
    return make_ctx(workspace, tmp_path)


def make_world(
    paths: NexusPaths,
    store: RunStore,
    *,
    tools: ToolsConfig | None = None,
    agent: AgentConfig | None = None,
    environ: dict[str, str] | None = None,
) -> ToolWorld:
    conn = store._conn
    return ToolWorld(
        registry=ToolRegistry(builtin_tools()),
        workspace=Workspace.for_home(paths),
        tools=tools or ToolsConfig(exec="allow"),
        agent=agent or AgentConfig(),
        spool_dir=paths.run / "tool-output",
        environ=environ or {"PATH": "/usr/bin:/bin"},
        services={"outbox": Outbox(conn), "routes": RouteStore(conn), "channels": {"telegram"}},
        approvals=ApprovalStore(conn),
    )
