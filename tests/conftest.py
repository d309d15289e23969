"""Fixtures shared across the test tree."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nexus.fakes.anthropic_server import FakeAnthropic
from nexus.fakes.openai_server import FakeOpenAI


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    """A fresh fake Anthropic Messages API on 127.0.0.1 (``ANTHROPIC_BASE_URL=fake.base_url``)."""
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A fresh fake OpenAI-compatible API on 127.0.0.1 (``fake.base_url`` ends with ``/v1``)."""
    with FakeOpenAI() as fake:
        yield fake
