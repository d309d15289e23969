"""The shape of ``nexus.toml``. Every key is documented in docs/config.md; unknown keys are refused.

Built-in providers (``anthropic``, ``openai``, ``openrouter``, ``ollama``) exist without any config;
a ``[providers.NAME]`` table overrides one of them or adds another OpenAI-compatible endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nexus.schedule import JobDefinition, ScheduleError, define_job, parse_deliver, parse_duration


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GatewayConfig(_Strict):
    port: int = Field(default=18789, ge=1, le=65535)
    bind: str = "127.0.0.1"
    allowed_origins: list[str] = Field(default_factory=list)
    """Extra WebSocket ``Origin`` values accepted besides the gateway's own loopback origins."""
    max_run_attempts: int = Field(default=3, ge=1, le=20)
    """How many times a run interrupted by a crash is resumed before it fails with a reason."""
    tick_interval_s: float = Field(default=15.0, gt=0, le=3600)
    history_turns: int = Field(default=40, ge=0, le=10_000)
    """How many earlier messages of a session go to the model with each new one."""
    header_timeout_s: float = Field(default=10.0, gt=0, le=600)
    """A connection that has not finished a request's headers within this is closed."""
    idle_timeout_s: float = Field(default=5.0, gt=0, le=3600)
    """A keep-alive connection idle this long between requests is closed."""
    max_connections: int = Field(default=512, ge=8, le=100_000)
    """Concurrent connections (HTTP and WebSocket); a request beyond it gets a 503."""
    metrics_public: bool = False
    """Serve ``GET /metrics`` without the gateway token (for a Prometheus on this host)."""


class ModelsConfig(_Strict):
    primary: str = "anthropic/claude-opus-4-5"
    fallbacks: list[str] = Field(
        default_factory=lambda: ["anthropic/claude-3-7-sonnet-latest", "anthropic/claude-3-5-haiku-latest"]
    )
    max_tokens: int = Field(default=4096, ge=1, le=200_000)
    turn_timeout_s: float = Field(default=120.0, gt=0, le=3600)
    max_attempts: int = Field(default=8, ge=1, le=100)

    @field_validator("primary", "fallbacks")
    @classmethod
    def _refs_have_provider(cls, value: str | list[str]) -> str | list[str]:
        for ref in [value] if isinstance(value, str) else value:
            ModelRef.parse(ref)
        return value


class ProviderConfig(_Strict):
    kind: Literal["anthropic", "openai"] = "openai"
    base_url: str | None = None
    api_key_env: str | None = None
    """Environment variable holding an API key for this provider (used when no auth profile serves)."""
    connect_timeout_s: float = Field(default=5.0, gt=0, le=600)
    first_token_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    idle_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    context_window: int | None = Field(default=None, ge=1)


class AuthConfig(_Strict):
    store: str | None = None
    """Path of the shared credential store; default ``$NEXUS_HOME/auth-profiles.json``."""
    refresh_margin_s: float = Field(default=300.0, ge=0, le=86_400)
    lock_timeout_s: float = Field(default=30.0, gt=0, le=600)
    force_unreliable_fs: bool = False


class SupervisorConfig(_Strict):
    grace_s: float = Field(default=10.0, gt=0, le=600)
    healthy_after_s: float = Field(default=10.0, gt=0, le=3600)
    ready_uptime_s: float = Field(default=0.5, gt=0, le=3600)
    """A generation ready this long that is then killed or crashes is restarted at once, every time,
    and never counts toward a crash loop."""
    backoff_initial_s: float = Field(default=0.5, gt=0, le=600)
    backoff_max_s: float = Field(default=60.0, gt=0, le=3600)
    backoff_reset_after_s: float = Field(default=600.0, gt=0, le=86_400)
    watchdog_interval_s: float = Field(default=1.0, gt=0, le=600)
    watchdog_timeout_s: float = Field(default=5.0, gt=0, le=3600)
    probe_interval_s: float = Field(default=2.0, gt=0, le=600)
    probe_timeout_s: float = Field(default=2.0, gt=0, le=600)
    probe_failures: int = Field(default=3, ge=1, le=100)
    crash_loop_exits: int = Field(default=5, ge=1, le=1000)
    crash_loop_window_s: float = Field(default=300.0, gt=0, le=86_400)
    start_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    """How long a new gateway may take to send READY=1 before it is killed and restarted."""


class AlertsConfig(_Strict):
    command: str | None = None
    """A shell command that receives each alert as JSON on stdin."""
    min_interval_s: float = Field(default=600.0, ge=0, le=86_400)
    models_down_after_s: float = Field(default=600.0, gt=0, le=86_400)
    """Alert when every model has failed for this long with no answer in between."""
    check_interval_s: float = Field(default=60.0, gt=0, le=86_400)


class ModelPrice(_Strict):
    """USD per million tokens, for the per-run cost estimate."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)


class AgentConfig(_Strict):
    workspace: str | None = None
    """Where the assistant's file tools and ``exec`` act; default ``$NEXUS_HOME/workspace``."""
    max_steps: int = Field(default=25, ge=1, le=1000)
    """Model calls per run; a run that needs more stops with a message saying so."""
    max_tokens: int = Field(default=400_000, ge=1, le=100_000_000)
    """Input + output tokens per run, summed over its model calls."""
    max_run_s: float = Field(default=1800.0, gt=0, le=86_400)
    """Wall time per run, counted from its first claim (a crash does not reset it)."""
    max_cost_usd: float | None = Field(default=None, gt=0)
    """Estimated cost per run (from ``[agent.prices]``); unset: no cost cap."""
    max_repeats: int = Field(default=3, ge=2, le=100)
    """The same (tool, input, result) this many times in one run ends it."""
    history_tool_chars: int = Field(default=2000, ge=0, le=1_000_000)
    """Tool results in the history of later turns are cut to this many characters."""
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    """``provider/model`` -> price; models not listed cost nothing in the estimate."""

    heartbeat_every: str | None = None
    """A duration (``30m``): a turn reading ``workspace/HEARTBEAT.md`` this often; off when unset."""
    heartbeat_deliver: str | None = None
    """``CHANNEL:CHAT`` that gets a heartbeat's answer when it has something to say; the log otherwise."""
    memory_file_chars: int = Field(default=20_000, ge=100, le=1_000_000)
    """Cap per workspace memory file (AGENTS.md, SOUL.md, USER.md, MEMORY.md) in the system prompt."""
    memory_total_chars: int = Field(default=60_000, ge=100, le=4_000_000)
    """Cap for all of them together."""
    context_chars: int = Field(default=400_000, ge=1_000, le=40_000_000)
    """History budget of one turn (about four characters a token); older runs beyond it are compacted."""
    compact_keep_turns: int = Field(default=10, ge=1, le=1_000)
    """How many latest runs stay verbatim when a session is compacted into a summary."""

    @field_validator("heartbeat_every")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_duration(value, field="heartbeat_every")
            except ScheduleError as exc:
                raise ValueError(str(exc)) from exc
        return value

    @field_validator("heartbeat_deliver")
    @classmethod
    def _deliver(cls, value: str | None) -> str | None:
        try:
            parse_deliver(value, field="heartbeat_deliver")
        except ScheduleError as exc:
            raise ValueError(str(exc)) from exc
        return value


ToolPolicy = Literal["allow", "ask", "deny"]


class ToolsConfig(_Strict):
    exec: ToolPolicy = "ask"
    """``allow`` runs every command, ``ask`` asks the owner first, ``deny`` refuses them all."""
    allow: list[str] = Field(default_factory=list)
    """Command patterns (shell globs over the whole command) that run without asking."""
    approval_timeout_s: float = Field(default=1800.0, gt=0, le=7 * 86_400)
    exec_timeout_s: float = Field(default=60.0, gt=0, le=86_400)
    """Default for ``exec`` when the model gives no ``timeout_s``."""
    exec_max_timeout_s: float = Field(default=600.0, gt=0, le=86_400)
    """Upper bound of a model-given ``timeout_s``."""
    output_chars: int = Field(default=20_000, ge=100, le=10_000_000)
    """Characters of one tool result the model sees (head and tail kept, the middle cut)."""
    exec_memory_mb: int = Field(default=2048, ge=16, le=1_048_576)
    """Address-space limit of each ``exec`` process."""
    exec_file_mb: int = Field(default=1024, ge=1, le=1_048_576)
    """Largest file an ``exec`` process may write."""
    read_max_bytes: int = Field(default=2_000_000, ge=1, le=1_000_000_000)
    fetch_timeout_s: float = Field(default=20.0, gt=0, le=600)
    fetch_max_bytes: int = Field(default=2_000_000, ge=1, le=100_000_000)
    fetch_max_redirects: int = Field(default=5, ge=0, le=30)
    fetch_allow_private: bool = False
    """Let ``web_fetch`` reach private and link-local addresses (LAN services)."""
    fetch_allow_loopback: bool = False
    """Let ``web_fetch`` reach 127.0.0.0/8 and ::1 (local services; the gateway itself)."""


class LoggingConfig(_Strict):
    format: Literal["text", "json"] = "text"
    """``json``: one JSON object per line (``ts``, ``level``, ``logger``, ``msg``, ``run_id``)."""
    level: Literal["debug", "info", "warning", "error"] = "info"
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=64 * 1024, le=1 << 34)
    """Size at which ``logs/gateway.log`` rotates (when the gateway writes it itself)."""
    backups: int = Field(default=5, ge=0, le=100)


class TracingConfig(_Strict):
    enabled: bool = False
    """Emit OpenTelemetry spans of each run; needs ``pip install 'nexus-gateway[tracing]'``."""
    exporter: Literal["otlp", "console"] = "otlp"
    endpoint: str | None = None
    """OTLP/HTTP traces endpoint; default ``OTEL_EXPORTER_OTLP_ENDPOINT`` or the SDK's own default."""
    service_name: str = "nexus-gateway"


class BackupConfig(_Strict):
    dir: str | None = None
    """Where ``nexus backup create`` writes and ``list`` looks; default ``$NEXUS_HOME/backups``."""
    keep: int = Field(default=10, ge=1, le=10_000)
    """How many archives ``create`` keeps in ``dir`` (oldest removed first)."""
    git_repo: str | None = None
    """The working copy ``nexus backup git`` commits into; default ``$NEXUS_HOME/backup-git``."""
    git_remote: str | None = None
    """A git URL or path pushed to by ``nexus backup git``; unset: commit only."""
    git_branch: str = "main"
    git_include_archive: bool = False
    """Also commit the newest archive (``archives/``) next to the workspace."""
    max_age_h: float = Field(default=36.0, gt=0, le=24 * 365)
    """``nexus drill --live`` warns when the newest archive is older than this."""


class CronTable(_Strict):
    """One ``[[cron]]`` table: the same fields as ``nexus cron add``."""

    name: str
    message: str
    every: str | None = None
    cron: str | None = None
    at: str | None = None
    tz: str | None = None
    session: str | None = None
    deliver: str | None = None
    catch_up: str | None = None

    @model_validator(mode="after")
    def _checked(self) -> CronTable:
        self.definition()
        return self

    def definition(self) -> JobDefinition:
        try:
            return define_job(**self.model_dump())
        except ScheduleError as exc:
            key = exc.field.removeprefix("--").replace("-", "_")
            detail = str(exc).split(": ", 1)[1]
            raise ValueError(f"(name {self.name!r}) {key}: {detail}") from exc


class NexusConfig(_Strict):
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    supervisor: SupervisorConfig = Field(default_factory=SupervisorConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    agent: AgentConfig = Field(default_factory=AgentConfig)
    tools: ToolsConfig = Field(default_factory=ToolsConfig)

    backup: BackupConfig = Field(default_factory=BackupConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    tracing: TracingConfig = Field(default_factory=TracingConfig)
    cron: list[CronTable] = Field(default_factory=list)
    """``[[cron]]`` tables: jobs kept in step with the file at every gateway start."""
    channels: dict[str, dict[str, object]] = Field(default_factory=dict)
    """Per-channel tables, validated by each channel's own manifest when the channel is enabled."""

    @field_validator("cron")
    @classmethod
    def _unique_names(cls, tables: list[CronTable]) -> list[CronTable]:
        seen: set[str] = set()
        for table in tables:
            if table.name in seen:
                raise ValueError(
                    f"[[cron]] {table.name!r}: name: two tables have this name; names are unique"
                )
            seen.add(table.name)
        return tables

    def chain(self) -> list[ModelRef]:
        """The configured model chain: primary first, then fallbacks, duplicates dropped."""
        seen: list[ModelRef] = []
        for raw in [self.models.primary, *self.models.fallbacks]:
            ref = ModelRef.parse(raw)
            if ref not in seen:
                seen.append(ref)
        return seen


@dataclass(frozen=True)
class ModelRef:
    """``provider/model``; the model part may itself contain slashes (``openrouter/anthropic/x``)."""

    provider: str
    model: str

    @classmethod
    def parse(cls, raw: str) -> ModelRef:
        provider, sep, model = raw.partition("/")
        if not sep or not provider or not model:
            raise ValueError(
                f"model {raw!r} must be written 'provider/model', e.g. 'anthropic/claude-opus-4-5'"
            )
        return cls(provider=provider, model=model)

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"
