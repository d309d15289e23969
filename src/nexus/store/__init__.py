"""Durable state in SQLite: the inbox of runs (accept -> claim -> steps -> finish) and transcripts."""

from nexus.store.db import StoreError, open_database
from nexus.store.runs import Run, RunStatus, RunStore, Step

__all__ = ["Run", "RunStatus", "RunStore", "Step", "StoreError", "open_database"]
