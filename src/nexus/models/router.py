"""The model router: one turn in, one answer out, falling over in milliseconds, never hammering.

For each candidate (:mod:`nexus.models.candidates`) in order:

1. no usable credential, cooling (:mod:`nexus.models.cooldown`), another turn probing it, or too
   small after a "prompt too long" -> skipped without a request;
2. otherwise stream from it, passing each text delta to the sink as it arrives;
3. on failure: record a cooldown (:mod:`nexus.models.ledger`, persisted), tell the sink, move on. ``auth`` gets one forced
   refresh through the credential source first; ``auth_permanent`` tells the source the credential
   is dead; ``bad_request`` ends the turn (another model would get the same bad request).

A failure after text was streamed still falls over: the sink hears ``Fallback(after_tokens=True)``
(discard what you showed) and the result is the fallback's complete answer. A connection failure
before any byte is retried once on the same candidate before it counts. Nothing here sleeps: when
every candidate is cooling, the one back soonest is probed if its cooldown is our own guess
(:func:`~nexus.models.cooldown.last_resort`; concurrent turns wait for that one probe), else the
turn fails at once with the reasons and the soonest retry. The whole turn is bounded by a deadline
and an attempt cap.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from nexus.auth.credentials import Credential, CredentialKind, CredentialSource, ProfileState
from nexus.auth.errors import AuthError
from nexus.common.clock import Clock, SystemClock
from nexus.common.secret import Secret
from nexus.config.schema import ModelRef
from nexus.models.candidates import Slot, fits_after_overflow, plan, rotates_profile
from nexus.models.cooldown import ANY_MODEL, Admission, CooldownEntry, last_resort
from nexus.models.cooldown_store import CooldownStore, Key, MemoryCooldownStore
from nexus.models.errors import ModelFailureKind, ProviderError, UnknownFailure
from nexus.models.ledger import Ledger
from nexus.models.providers.base import Provider
from nexus.models.turn import (
    AttemptInfo,
    AttemptStarted,
    CallRequest,
    CallResult,
    Cooldown,
    Delta,
    EventSink,
    Fallback,
    NoProviderConfigured,
    Refreshing,
    Turn,
    TurnFailed,
    TurnResult,
)
from nexus.models.types import ChatMessage, ModelRequest, StreamEnd, TextDelta, ToolCall, Usage

log = logging.getLogger(__name__)

KEYLESS_SUFFIX = ":keyless"
_NOT_A_FALLBACK = frozenset({"skipped:no_credential", "skipped:credential"})
"""Passing over a candidate that was never set up is not falling back from it."""
PERMANENT_PLACEHOLDER_S = 10 * 365 * 86400.0


@dataclass(frozen=True)
class Candidate:
    """One (model, profile) pair as ``/readyz``, ``/status`` and ``nexus models`` show it."""

    model: str
    profile: str | None
    usable: bool
    reason: str | None = None
    cooling_until: float | None = None
    """Epoch seconds; None when not cooling or cooling until a human acts (see ``reason``)."""
    last_outcome: str | None = None
    last_outcome_at: float | None = None
    probed_when_alone: bool = False
    """Cooling, but for a transient reason of our own guessing: when no other candidate can answer, the
    next message probes it instead of being refused (see :func:`nexus.models.cooldown.last_resort`)."""


@dataclass(frozen=True)
class ProbeResult:
    model: str
    profile: str | None
    ok: bool
    outcome: str
    """``ok``, a ModelFailureKind value, or ``unusable`` (no request was sent)."""
    detail: str = ""
    status: int | None = None
    latency_ms: float | None = None
    cooling: str | None = None
    """The cooldown the gateway holds for this candidate, if any: the probe ignores it, the gateway not."""


@dataclass
class _Progress:
    text: list[str] = field(default_factory=list)
    fingerprint: str | None = None
    """Of the credential last sent: an auth cooldown remembers it."""
    retried: list[AttemptInfo] = field(default_factory=list)
    """Failures retried on the same candidate within the attempt (a connection reset)."""
    tool_calls: list[ToolCall] = field(default_factory=list)
    end: StreamEnd | None = None

    @property
    def streamed(self) -> bool:
        """Did the caller's sink hear anything of this attempt (then it is not retried silently)?"""
        return bool(self.text or self.tool_calls)


@dataclass
class _Walk:
    """Where a turn's walk over its candidates stands."""

    deadline: float
    attempts: list[AttemptInfo] = field(default_factory=list)
    sent: int = 0
    failed_models: set[str] = field(default_factory=set)
    overflowed: int | bool | None = False
    """False: no overflow yet; else the context window that overflowed (None: unknown)."""
    pending: tuple[Slot, str, bool] | None = None
    """What the next attempt falls back from: slot, reason, whether it had streamed."""
    stop: bool = False


class _CredentialUnavailable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Router:
    """Runs turns over the candidates; safe for concurrent turns on one event loop."""

    def __init__(
        self,
        *,
        chain: Sequence[ModelRef],
        providers: Mapping[str, Provider],
        credentials: CredentialSource,
        store: CooldownStore | None = None,
        clock: Clock | None = None,
        turn_timeout_s: float = 120.0,
        max_attempts: int = 8,
        max_tokens: int = 4096,
        context_windows: Mapping[str, int | None] | None = None,
        keyless: frozenset[str] = frozenset(),
        aclose_after: Sequence[Callable[[], Awaitable[None]]] = (),
    ) -> None:
        self._chain = list(chain)
        self._providers = dict(providers)
        self._aclose_after = tuple(aclose_after)
        self._credentials = credentials
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._ledger = Ledger(store if store is not None else MemoryCooldownStore(), self._clock)
        self._turn_timeout = turn_timeout_s
        self._max_attempts = max_attempts
        self._max_tokens = max_tokens
        self._windows = dict(context_windows or {})
        self._keyless = keyless

    # ------------------------------------------------------------------ public API

    @property
    def chain(self) -> list[ModelRef]:
        return list(self._chain)

    async def run(self, turn: Turn, sink: EventSink) -> TurnResult:
        """A turn of one call (text only): :meth:`complete` under its old name."""
        return await self.complete(turn, sink)

    async def complete(self, turn: CallRequest, sink: EventSink) -> CallResult:
        """ONE model call with fallback: the answer of the first candidate that can give it (text,
        tool calls, usage); raise TurnFailed or NoProviderConfigured. Running tools and calling again
        is the caller's business."""
        chain = [turn.pinned] if turn.pinned is not None else self._chain
        slots = plan(chain, self._profiles)
        if not any(s.profile is not None and s.profile.usable for s in slots):
            raise NoProviderConfigured(_no_provider_message(slots))
        self._ledger.sync()
        budget = self._turn_timeout if turn.budget_s is None else min(turn.budget_s, self._turn_timeout)
        walk = _Walk(deadline=self._clock.monotonic() + budget)
        cooling: list[tuple[Slot, Key]] = []  # skipped for a cooldown: a last resort

        for slot in slots:
            skip = self._skip_reason(slot, walk.failed_models, walk.overflowed)
            if skip is not None:
                walk.attempts.append(
                    AttemptInfo(slot.model, slot.profile_name, f"skipped:{skip[0]}", detail=skip[1])
                )
                continue
            assert slot.profile is not None
            profile = slot.profile.profile
            await self._end_cooldown_if_credential_changed(profile)
            key, admission = self._ledger.admission(profile, slot.ref.model)
            if admission is Admission.SKIP:
                entry = self._ledger.entry(profile, slot.ref.model)
                outcome = f"cooling:{entry.kind.value}" if entry else "probing"
                walk.attempts.append(
                    AttemptInfo(slot.model, profile, f"skipped:{outcome}", detail=self._cooling_detail(entry))
                )
                cooling.append((slot, key))
                if walk.pending is None:
                    walk.pending = (slot, outcome, False)
                continue
            result = await self._try(slot, key, admission is Admission.PROBE, turn, sink, walk, slots)
            if result is not None:
                return result
            if walk.stop:
                break
        if walk.sent == 0 and not walk.stop:
            result = await self._last_resort(cooling, turn, sink, walk, slots)
            if result is not None:
                return result
        raise self._turn_failed(walk.attempts, slots, turn)

    async def _try(
        self,
        slot: Slot,
        key: Key,
        probing: bool,
        turn: Turn,
        sink: EventSink,
        walk: _Walk,
        slots: list[Slot],
    ) -> CallResult | None:
        """One candidate of the turn: the answer, or None to go on (``walk.stop``: give up)."""
        assert slot.profile is not None
        profile = slot.profile.profile
        if walk.sent >= self._max_attempts:
            walk.attempts.append(AttemptInfo(slot.model, profile, "skipped:attempt_cap"))
            walk.stop = True
            return None
        budget = walk.deadline - self._clock.monotonic()
        if budget <= 0:
            walk.attempts.append(AttemptInfo(slot.model, profile, "skipped:turn_deadline"))
            walk.stop = True
            return None
        try:
            credential = await self._credential(slot)
        except _CredentialUnavailable as exc:
            walk.attempts.append(AttemptInfo(slot.model, profile, "skipped:credential", detail=exc.reason))
            return None

        if walk.pending is not None:
            origin, reason, after_tokens = walk.pending
            sink(Fallback(origin.model, slot.model, reason, after_tokens, origin.profile_name, profile))
            log.info("model fallback %s -> %s (%s)", origin.model, slot.model, reason)
            walk.pending = None
        sink(AttemptStarted(slot.model, profile))
        walk.sent += 1
        if probing:
            self._ledger.start_probe(key)
        progress = _Progress()
        started_at = self._clock.time()
        failure: ModelFailureKind | None = ModelFailureKind.UNKNOWN
        try:
            await self._attempt(slot, credential, turn, budget, sink, progress)
            failure = None
        except ProviderError as err:
            failure = err.kind
            walk.attempts.extend(progress.retried)
            walk.attempts.append(
                AttemptInfo(slot.model, profile, err.kind.value, err.status, err.message[:300])
            )
            self._failed(
                slot,
                err,
                sink,
                probe_key=key if probing else None,
                fingerprint=progress.fingerprint,
                started_at=started_at,
            )
            if err.kind is ModelFailureKind.BAD_REQUEST:
                raise self._turn_failed(walk.attempts, slots, turn, terminal=err) from err
            if err.kind is ModelFailureKind.CONTEXT_OVERFLOW:
                walk.overflowed = self._windows.get(slot.ref.provider)
            if not rotates_profile(err.kind):
                walk.failed_models.add(slot.model)
            walk.pending = (slot, err.kind.value, progress.streamed)
            return None
        finally:
            if probing:
                self._ledger.end_probe(key, failure)
        walk.attempts.extend(progress.retried)
        walk.attempts.append(AttemptInfo(slot.model, profile, "ok"))
        self._ledger.succeeded(profile, slot.ref.model, key, started_at=started_at)
        fell_back = any(
            a.outcome not in _NOT_A_FALLBACK and not a.outcome.startswith("retried:")
            for a in walk.attempts[:-1]
        )
        return CallResult(
            text="".join(progress.text),
            model=slot.model,
            profile=profile,
            fell_back=fell_back,
            attempts=tuple(walk.attempts),
            tool_calls=tuple(progress.tool_calls),
            stop_reason=progress.end.stop_reason if progress.end else None,
            usage=progress.end.usage if progress.end else Usage(),
        )

    async def _last_resort(
        self, cooling: list[tuple[Slot, Key]], turn: Turn, sink: EventSink, walk: _Walk, slots: list[Slot]
    ) -> CallResult | None:
        """Every candidate is cooling: probe the one back soonest rather than refuse the message.

        While another turn probes it, wait for that probe (within the deadline) instead of sending a
        request too: if it answered, go. If it failed fast (a reset, a 5xx), the next waiter probes in
        turn, so a blip costs the messages that met it, not every message that waited; each message
        sends at most one probe of its own. After a probe that timed out, waiters fail at once (the
        candidate hangs: queueing behind it would only spend their deadlines)."""
        entries = [self._ledger.entry(s.profile_name or "", s.ref.model) for s, _ in cooling]
        index = last_resort(entries)
        if index is None:
            return None
        slot, key = cooling[index]
        while (in_flight := self._ledger.probe_in_flight(key)) is not None:
            budget = walk.deadline - self._clock.monotonic()
            try:
                async with asyncio.timeout(max(budget, 0.0)):
                    failure = await asyncio.shield(in_flight)
            except TimeoutError:
                return None
            if failure is None:
                return await self._try(slot, key, False, turn, sink, walk, slots)
            still = last_resort([self._ledger.entry(slot.profile_name or "", slot.ref.model)]) is not None
            if failure is ModelFailureKind.TIMEOUT or not still:
                walk.attempts.append(
                    AttemptInfo(
                        slot.model,
                        slot.profile_name,
                        "skipped:probe_failed",
                        detail=f"the probe another message just sent failed ({failure.value})",
                    )
                )
                return None
        log.info("model %s: every candidate is cooling; probing it as the last resort", slot.model)
        return await self._try(slot, key, True, turn, sink, walk, slots)

    def candidates(self) -> list[Candidate]:
        """Every (model, profile) of the configured chain with whether it could serve right now."""
        self._ledger.sync()
        now = self._clock.time()
        result = []
        for slot in plan(self._chain, self._profiles):
            profile = slot.profile_name
            outcome = self._ledger.outcome(profile or "", slot.ref.model)
            base = {
                "model": slot.model,
                "profile": profile,
                "last_outcome": outcome.outcome if outcome else None,
                "last_outcome_at": outcome.at if outcome else None,
            }
            if slot.profile is None:
                result.append(
                    Candidate(usable=False, reason=f"no credential for provider {slot.ref.provider}", **base)
                )
                continue
            if not slot.profile.usable:
                result.append(
                    Candidate(usable=False, reason=slot.profile.reason or "profile unusable", **base)
                )
                continue
            entry = self._ledger.entry(slot.profile.profile, slot.ref.model)
            if entry is not None and now < entry.until:
                until = None if entry.permanent else entry.until
                alone = last_resort([entry]) is not None
                reason = self._cooling_detail(entry)
                if alone:
                    reason += "; probed by the next message if no other candidate can answer"
                result.append(
                    Candidate(
                        usable=False, reason=reason, cooling_until=until, probed_when_alone=alone, **base
                    )
                )
                continue
            result.append(Candidate(usable=True, **base))
        return result

    def cooldowns(self) -> list[CooldownEntry]:
        """Current cooldowns (ended ones included until their probe succeeds)."""
        return self._ledger.cooldowns()

    def clear_cooldowns(self, profile: str | None = None, model: str | None = None) -> int:
        """Forget cooldowns (of one profile and/or one ``provider/model``, or all); how many were dropped."""
        ref = ModelRef.parse(model) if model is not None else None
        owners = {s.profile for s in self._profiles(ref.provider)} if ref is not None else None

        def which(key: Key) -> bool:
            if profile is not None and key[0] != profile:
                return False
            if ref is None or owners is None:
                return True
            return key[0] in owners and key[1] in (ref.model, ANY_MODEL)

        return self._ledger.clear(which)

    async def probe(self, *, timeout_s: float = 20.0) -> list[ProbeResult]:
        """A real minimal request per candidate, ignoring cooldowns and changing none (each result
        says which cooldown the gateway still holds)."""
        results = []
        for result in await self._probe_all(timeout_s):
            entry = self._ledger.entry(result.profile or "", result.model.partition("/")[2])
            if entry is not None and self._clock.time() < entry.until:
                result = replace(result, cooling=self._cooling_detail(entry))
            results.append(result)
        return results

    async def _probe_all(self, timeout_s: float) -> list[ProbeResult]:
        results = []
        for slot in plan(self._chain, self._profiles):
            profile = slot.profile_name
            if slot.profile is None or not slot.profile.usable:
                reason = (
                    slot.profile.reason if slot.profile else f"no credential for provider {slot.ref.provider}"
                )
                results.append(
                    ProbeResult(slot.model, profile, False, "unusable", reason or "profile unusable")
                )
                continue
            started = time.perf_counter()
            turn = Turn(run_id="probe", messages=(), system=None)
            try:
                credential = await self._credential(slot)
                await self._attempt(
                    slot, credential, turn, timeout_s, lambda _e: None, _Progress(), probe=True
                )
            except _CredentialUnavailable as exc:
                results.append(ProbeResult(slot.model, profile, False, "unusable", exc.reason))
                continue
            except ProviderError as err:
                results.append(
                    ProbeResult(
                        slot.model,
                        profile,
                        False,
                        err.kind.value,
                        err.message[:300],
                        err.status,
                        _ms(started),
                    )
                )
                continue
            results.append(ProbeResult(slot.model, profile, True, "ok", latency_ms=_ms(started)))
        return results

    async def flush(self) -> None:
        """Wait until the cooldowns and outcomes so far are on disk."""
        await self._ledger.flush()

    async def aclose(self) -> None:
        await self.flush()
        for provider in self._providers.values():
            await provider.aclose()
        for close in self._aclose_after:
            await close()

    # ------------------------------------------------------------------ one attempt

    async def _attempt(
        self,
        slot: Slot,
        credential: Credential,
        turn: Turn,
        budget: float,
        sink: EventSink,
        progress: _Progress,
        *,
        probe: bool = False,
    ) -> None:
        assert slot.profile is not None
        profile = slot.profile.profile
        provider = self._providers[slot.ref.provider]
        progress.fingerprint = credential.secret.fingerprint()
        request = self._request(slot, turn, budget, probe=probe)
        started = self._clock.monotonic()
        refreshed = reconnected = False
        while True:
            try:
                await self._stream(provider, request, credential, sink, progress)
                return
            except ProviderError as err:
                remaining = budget - (self._clock.monotonic() - started)
                if progress.streamed or remaining <= 0:
                    raise
                if err.kind is ModelFailureKind.CONNECTION and not reconnected:
                    # a reset or refused connect before any byte: one more try on the same candidate
                    # before it counts (a blip must not cost a cooldown, nor fail the only model)
                    reconnected = True
                    log.info("model %s: %s; retrying once on the same candidate", slot.model, err.message)
                    progress.retried.append(
                        AttemptInfo(slot.model, profile, "retried:connection", err.status, err.message[:300])
                    )
                    request = replace(request, budget_s=remaining)
                    continue
                if err.kind is not ModelFailureKind.AUTH or refreshed or profile.endswith(KEYLESS_SUFFIX):
                    raise
                refreshed = True
                fresh = await self._refresh(slot, profile, credential, sink)
                if fresh is None:
                    raise
                credential = fresh
                progress.fingerprint = fresh.secret.fingerprint()
                request = replace(request, budget_s=remaining)

    async def _refresh(
        self, slot: Slot, profile: str, credential: Credential, sink: EventSink
    ) -> Credential | None:
        """A 401: force one refresh through the credential source; the new credential, if different."""
        sink(Refreshing(profile))
        log.warning("model %s: 401 for profile %s, forcing one credential refresh", slot.model, profile)
        try:
            fresh = await self._credentials.unauthorized(profile, credential)
        except AuthError as exc:
            log.warning("forced refresh of %s failed: %s", profile, exc)
            return None
        if fresh is None or fresh.secret == credential.secret:
            return None
        return fresh

    async def _stream(
        self,
        provider: Provider,
        request: ModelRequest,
        credential: Credential,
        sink: EventSink,
        progress: _Progress,
    ) -> None:
        ended = False
        try:
            async for item in provider.stream(request, credential):
                if isinstance(item, TextDelta):
                    progress.text.append(item.text)
                    sink(Delta(item.text))
                elif isinstance(item, ToolCall):
                    progress.tool_calls.append(item)
                    sink(item)
                elif isinstance(item, StreamEnd):
                    progress.end = item
                    ended = True
        except ProviderError:
            raise
        except Exception as exc:  # an adapter bug must cost one attempt, never the gateway
            log.exception("provider %s raised an untranslated error", provider.name)
            raise UnknownFailure(
                f"{type(exc).__name__} in provider {provider.name}", model=request.model
            ) from exc
        if not ended:
            raise UnknownFailure("stream ended without its end marker", model=request.model)

    async def _credential(self, slot: Slot) -> Credential:
        assert slot.profile is not None
        profile = slot.profile.profile
        if profile.endswith(KEYLESS_SUFFIX):
            return Credential(profile=profile, kind=CredentialKind.API_KEY, secret=Secret(""))
        try:
            return await self._credentials.credential(profile)
        except AuthError as exc:
            raise _CredentialUnavailable(str(exc)) from exc

    async def _end_cooldown_if_credential_changed(self, profile: str) -> None:
        """An auth or billing cooldown ends when the profile holds a new credential (a human acted)."""
        if profile.endswith(KEYLESS_SUFFIX) or not self._ledger.needs_credential_check(profile):
            return
        try:
            credential = await self._credentials.credential(profile)
        except AuthError:
            return
        self._ledger.end_if_credential_changed(profile, credential.secret.fingerprint())

    def _request(self, slot: Slot, turn: CallRequest, budget: float, *, probe: bool) -> ModelRequest:
        if probe:
            return ModelRequest(slot.ref.model, (_PING,), None, max_tokens=1, budget_s=budget)
        return ModelRequest(
            slot.ref.model,
            turn.messages,
            turn.system,
            turn.max_tokens or self._max_tokens,
            budget_s=budget,
            tools=turn.tools,
        )

    # ------------------------------------------------------------------ decisions and bookkeeping

    def _profiles(self, provider: str) -> list[ProfileState]:
        states = self._credentials.profiles(provider)
        if not states and provider in self._keyless:
            return [ProfileState(profile=f"{provider}{KEYLESS_SUFFIX}", provider=provider, usable=True)]
        return states

    def _skip_reason(
        self, slot: Slot, failed_models: set[str], overflowed: int | bool | None
    ) -> tuple[str, str] | None:
        if slot.ref.provider not in self._providers:
            return (
                "no_provider",
                f"provider {slot.ref.provider!r} is not configured: add a [providers.NAME] table",
            )
        if slot.profile is None:
            return ("no_credential", f"no credential for provider {slot.ref.provider}")
        if not slot.profile.usable:
            return ("no_credential", slot.profile.reason or "profile unusable")
        if slot.model in failed_models:
            return ("model_failed", "this model already failed in this turn")
        if overflowed is not False and not fits_after_overflow(
            self._windows.get(slot.ref.provider), overflowed if isinstance(overflowed, int) else None
        ):
            return ("context", "not known to hold a longer prompt")
        return None

    def _failed(
        self,
        slot: Slot,
        err: ProviderError,
        sink: EventSink,
        *,
        probe_key: Key | None,
        fingerprint: str | None,
        started_at: float | None = None,
    ) -> None:
        assert slot.profile is not None
        profile = slot.profile.profile
        if err.kind is ModelFailureKind.AUTH_PERMANENT and not profile.endswith(KEYLESS_SUFFIX):
            self._credentials.revoked(profile, err.message)
        entry = self._ledger.failed(
            profile, slot.ref.model, err, probe_key=probe_key, fingerprint=fingerprint, started_at=started_at
        )
        if entry is None:
            return
        now = self._clock.time()
        until = now + PERMANENT_PLACEHOLDER_S if entry.permanent else entry.until
        sink(Cooldown(slot.model, profile, err.kind.value, until, entry.permanent))
        log.warning(
            "model %s profile %s: %s (status %s), cooling %s",
            slot.model,
            profile,
            err.kind.value,
            err.status,
            "until a human acts" if entry.permanent else f"{entry.until - now:.1f}s",
        )

    def _cooling_detail(self, entry: CooldownEntry | None) -> str:
        if entry is None:
            return "another request is probing this candidate"
        if entry.permanent:
            return f"{entry.kind.value}: until a human acts ({entry.reason})"
        left = max(0.0, entry.until - self._clock.time())
        return f"{entry.kind.value}: cooling for {left:.0f}s more"

    def _soonest_retry(self, slots: list[Slot]) -> float | None:
        """When the first cooling candidate of the turn comes back (None: nothing is cooling)."""
        times = []
        for slot in slots:
            if slot.profile is not None and slot.profile.usable:
                entry = self._ledger.entry(slot.profile.profile, slot.ref.model)
                if entry is not None and not entry.permanent:
                    times.append(entry.until)
        return min(times) if times else None

    def _turn_failed(
        self,
        attempts: list[AttemptInfo],
        slots: list[Slot],
        turn: Turn,
        *,
        terminal: ProviderError | None = None,
    ) -> TurnFailed:
        soonest = None if terminal is not None else self._soonest_retry(slots)
        head = (
            f"the request was refused ({terminal.kind.value}): {terminal.message}; another model would refuse it too"
            if terminal is not None
            else "no model could answer"
        )
        if turn.pinned is not None:
            head += f" (model pinned for this session: {turn.pinned}, no fallback)"
        lines = [head + ":"]
        for a in attempts:
            status = f", status {a.status}" if a.status is not None else ""
            detail = f": {a.detail}" if a.detail else ""
            lines.append(f"  - {a.model} [{a.profile or 'no profile'}] {a.outcome}{status}{detail}")
        if any(a.outcome == ModelFailureKind.CONTEXT_OVERFLOW.value for a in attempts):
            lines.append(
                "the conversation is too long for the models tried: start a new session or compact it"
            )
        if soonest is not None:
            wait = max(0.0, soonest - self._clock.time())
            stamp = time.strftime("%H:%M:%S", time.gmtime(soonest))
            lines.append(f"soonest retry: {stamp} UTC (in {math.ceil(wait)}s)")
        return TurnFailed("\n".join(lines), tuple(attempts), soonest)


_PING = ChatMessage("user", "ping")


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 1)


def _no_provider_message(slots: list[Slot]) -> str:
    lines = ["no model provider has a usable credential:"]
    for slot in slots:
        reason = slot.profile.reason if slot.profile is not None else "nothing configured"
        lines.append(f"  - {slot.model} [{slot.profile_name or 'no profile'}]: {reason or 'unusable'}")
    return "\n".join(lines)
