"""Each package's ``__init__`` names what others may use, exactly (as httpx's test of the same name):
every name in ``__all__`` exists, and every public name the package holds is in ``__all__``.
A new public name is then a decision, not an accident."""

from __future__ import annotations

import importlib
import types

import pytest

PACKAGES = [
    "nexus.auth",
    "nexus.channels",
    "nexus.client",
    "nexus.common",
    "nexus.config",
    "nexus.gateway",
    "nexus.models",
    "nexus.ops",
    "nexus.protocol",
    "nexus.store",
    "nexus.supervisor",
    "nexus.tui.screens",
    "nexus.tui.widgets",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_public_names_are_exactly_all(name: str) -> None:
    package = importlib.import_module(name)
    declared = getattr(package, "__all__", None)
    assert declared is not None, f"{name}/__init__.py has no __all__"
    assert len(declared) == len(set(declared)), f"{name}.__all__ lists a name twice"
    missing = [n for n in declared if not hasattr(package, n)]
    assert missing == [], f"{name}.__all__ names what the package does not have"
    public = {
        n
        for n, value in vars(package).items()
        if not n.startswith("_") and not isinstance(value, types.ModuleType) and n != "annotations"
    }
    assert public == set(declared), f"{name}: public but not in __all__: {sorted(public - set(declared))}"
