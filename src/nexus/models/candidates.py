"""The candidates of a turn: the model chain crossed with each provider's auth profiles, in order.

Profiles rotate within a model first (a second account of the same provider is the cheapest
fallback), then the next model. Pure: the caller passes in how to list a provider's profiles.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nexus.auth.credentials import ProfileState
from nexus.config.schema import ModelRef
from nexus.models.errors import ModelFailureKind


@dataclass(frozen=True)
class Slot:
    ref: ModelRef
    profile: ProfileState | None
    """None when the provider has no profile at all (nothing configured)."""

    @property
    def model(self) -> str:
        return str(self.ref)

    @property
    def profile_name(self) -> str | None:
        return self.profile.profile if self.profile is not None else None


def plan(chain: Sequence[ModelRef], profiles: Callable[[str], list[ProfileState]]) -> list[Slot]:
    """Every (model, profile) pair in trying order; a provider without profiles yields one empty slot."""
    slots: list[Slot] = []
    cache: dict[str, list[ProfileState]] = {}
    for ref in chain:
        states = cache.get(ref.provider)
        if states is None:
            states = cache[ref.provider] = list(profiles(ref.provider))
        if not states:
            slots.append(Slot(ref, None))
        slots.extend(Slot(ref, state) for state in states)
    return slots


MODEL_LEVEL = frozenset(
    {
        ModelFailureKind.OVERLOADED,
        ModelFailureKind.MODEL_NOT_FOUND,
        ModelFailureKind.SERVER,
        ModelFailureKind.TIMEOUT,
        ModelFailureKind.CONNECTION,
        ModelFailureKind.CONTEXT_OVERFLOW,
    }
)
"""Failures of the model or endpoint, not of the account: another profile of the same model would
fail the same way, so the turn moves straight to the next model."""


def rotates_profile(kind: ModelFailureKind) -> bool:
    """After this failure, is the same model with the next profile worth a try in this turn?"""
    return kind not in MODEL_LEVEL


def fits_after_overflow(window: int | None, overflowed_window: int | None) -> bool:
    """After "prompt too long", only a candidate known to hold more context is worth a request."""
    if window is None:
        return False
    return overflowed_window is None or window > overflowed_window
