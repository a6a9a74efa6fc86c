"""The ``axocoatl.yaml`` schema as pydantic models: every section, with defaults.

Unknown keys are rejected everywhere (``extra="forbid"``) so a typo never silently
does nothing; the loader turns those rejections into "did you mean" hints.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from axocoatl.config.hosts import parse_host, parse_origin

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"

AgentRole = Literal["autonomous", "coordinator", "worker"]
OverflowPolicy = Literal["abort", "warn"]
DEFAULT_PER_CALL = 8192


class Section(BaseModel):
    # allow_inf_nan: no number in a config means anything as .inf or .nan (a timeout, a threshold, a
    # temperature, a latency); every float field refuses them.
    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)


# ----------------------------------------------------------------------------------------- agents


class TokenBudgetConfig(Section):
    """Token limits for one agent. Checked before every LLM call."""

    per_call: int = Field(
        DEFAULT_PER_CALL,
        gt=0,
        description=f"Most tokens (prompt + reply) one LLM call may use; default {DEFAULT_PER_CALL}, "
        "capped at per_execution.",
    )
    per_execution: int = Field(
        ..., gt=0, description="Most tokens one execution (one execute call or one workflow step) may use."
    )
    per_run: int | None = Field(None, gt=0, description="Most tokens the agent may use within one workflow run.")
    per_day: int | None = Field(None, gt=0, description="Most tokens the agent may use per UTC day.")
    overflow_policy: OverflowPolicy = Field(
        "abort", description="abort: refuse the call before it is made; warn: log and continue."
    )

    @field_validator("overflow_policy", mode="before")
    @classmethod
    def _summarize_alias(cls, value: Any) -> Any:
        # The original's deprecated "summarize" policy behaved as "warn".
        return "warn" if value == "summarize" else value

    @model_validator(mode="before")
    @classmethod
    def _cap_default_per_call(cls, data: Any) -> Any:
        # `per_execution: 4000` alone must not fail against the 8192 default of per_call.
        if isinstance(data, dict) and "per_call" not in data:
            limit = data.get("per_execution")
            if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit < DEFAULT_PER_CALL:
                return {**data, "per_call": limit}
        return data

    @model_validator(mode="after")
    def _per_call_within_execution(self) -> TokenBudgetConfig:
        if self.per_call > self.per_execution:
            raise ValueError(
                f"per_call ({self.per_call}) is larger than per_execution ({self.per_execution}); "
                "lower per_call or raise per_execution"
            )
        return self


class RecallConfig(Section):
    passive_inject: bool = Field(
        True, description="Inject the top-k relevant memories into every request of a conversation thread."
    )
    in_steps: bool = Field(
        False,
        description="Also inject them into workflow steps. Off by default: a step's prompt then stays the same "
        "size run after run (runs still learn through core memory and the recall tools).",
    )
    top_k: int = Field(5, ge=1, le=20)
    min_score: float = Field(0.15, ge=-1.0, le=1.0)


class CoreBlockConfig(Section):
    label: str = Field(..., pattern=r"^[A-Za-z0-9_-]+$")
    value: str = ""
    limit: int = Field(2000, ge=0, description="Character limit; 0 means unlimited.")
    shared: bool = Field(False, description="One block shared by every agent that declares this label.")
    description: str | None = None


def _default_blocks() -> list[CoreBlockConfig]:
    return [
        CoreBlockConfig(label="persona", limit=2000, description="Who you are and how you behave."),
        CoreBlockConfig(label="human", limit=2000, description="What you know about the user you serve."),
        CoreBlockConfig(
            label="project", limit=3000, description="Durable project context, decisions, and conventions."
        ),
    ]


class CoreMemoryConfig(Section):
    blocks: list[CoreBlockConfig] = Field(default_factory=_default_blocks)


class CheckpointConfig(Section):
    keep: int = Field(3, ge=1, description="How many checkpoints to keep per agent.")


class AgentMemoryConfig(Section):
    max_session_messages: int = Field(
        100, ge=2, description="Most session messages sent with a request; older ones stay in the store."
    )
    recall: RecallConfig = Field(default_factory=RecallConfig)
    core: CoreMemoryConfig = Field(default_factory=CoreMemoryConfig)
    checkpoints: CheckpointConfig = Field(default_factory=CheckpointConfig)
    tools: bool = Field(
        True,
        description="Offer the memory tools (recall_search, recall_timeframe, core_memory_*) and their hints. "
        "Their schemas cost about 500 prompt tokens per call: turn off for small local models that cannot "
        "call tools. Core blocks are still shown and relevant memories still injected.",
    )


class SamplingConfig(Section):
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(None, gt=0)
    response_format: Literal["text", "json"] = "text"


class AgentConfig(Section):
    id: str = Field(..., pattern=ID_PATTERN, description="Unique agent id.")
    name: str | None = Field(None, description="Display name; defaults to the id.")
    provider: str = Field("local", min_length=1, description="local, mock, ollama, openai, anthropic, ...")
    model: str | None = Field(None, description="Model name; each provider has a default.")
    system_prompt: str | None = None
    tools: list[str] = Field(default_factory=list, description="Allow-list of tools this agent may call.")
    workspace: str | None = Field(
        None,
        description="Directory this agent's file and shell tools work in (relative: to the config file); "
        "default: the run's workspace.",
    )
    token_budget: TokenBudgetConfig | None = None
    memory: AgentMemoryConfig = Field(default_factory=AgentMemoryConfig)
    depends_on: list[str] = Field(default_factory=list, description="Agents whose completion activates this one.")
    role: AgentRole = Field(
        "autonomous", description="coordinator and worker have no effect in this version (validate warns)."
    )
    activation_threshold: float | None = Field(
        None, gt=0, description="Signal needed to fire; each completed dependency deposits 0.5."
    )
    activation_decay: float | None = Field(None, ge=0, description="Per-second evaporation rate of deposited signal.")
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    timeout_secs: float = Field(300.0, gt=0, description="Most seconds one execution of this agent may take.")
    thread: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.:-]{1,128}$",
        description="Opt in: the agent's workflow steps share this conversation thread across runs "
        "(default: each step starts from a context of its own: prompt, core memory, recall, its input).",
    )
    max_concurrency: int = Field(
        16, ge=1, le=10_000, description="Most turns of this agent at once (steps of different runs, threads)."
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Options of the mock provider (see docs/mock-provider.md); no other provider reads them.",
    )

    @property
    def display_name(self) -> str:
        return self.name or self.id


class MockToolCallConfig(Section):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class MockOptions(Section):
    """Options of the ``mock`` provider; replies are a deterministic function of the request."""

    latency_ms: float = Field(0.0, ge=0, description="Delay before the first token.")
    reply: str | None = Field(
        None, description="Reply template; {input}, {agent}, {model}, {digest} and {turn} are substituted."
    )
    replies: list[str] = Field(
        default_factory=list, description="Scripted replies, picked by the number of user turns in the request."
    )
    tool_calls: list[MockToolCallConfig] = Field(
        default_factory=list, description="Tool calls made on the first round of a turn, before the reply."
    )
    fail: bool = Field(False, description="Fail every call.")
    fail_when: str | None = Field(None, description="Fail when the last user message contains this text.")
    fail_with: Literal["error", "rate_limit", "auth", "server_error", "timeout"] = "error"
    chunk_size: int = Field(16, gt=0, description="Characters per streamed text delta.")


# -------------------------------------------------------------------------------------- workflows


class WorkflowConfig(Section):
    id: str = Field(..., pattern=ID_PATTERN)
    name: str | None = None
    description: str | None = None
    agents: list[str] = Field(default_factory=list, description="Agents taking part in this workflow.")
    entry_point: str | None = Field(None, description="Agent that receives the input; default: agents without deps.")
    htn_methods_file: str | None = Field(None, description="No effect in this version (validate warns).")
    timeout_secs: float = Field(1800.0, gt=0, description="Most seconds a run of this workflow may take.")
    workspace: str | None = Field(
        None,
        description="Directory the run's agents work in (relative: to the config file); "
        "default: a fresh directory per run under the data dir.",
    )

    @property
    def display_name(self) -> str:
        return self.name or self.id


# -------------------------------------------------------------------------------------- providers


class RemoteProviderConfig(Section):
    api_key: SecretStr | None = None
    base_url: str | None = None
    fallback: list[str] = Field(default_factory=list, description="Providers to try when this one is rate limited.")
    timeout_secs: float = Field(60.0, gt=0)
    connect_timeout_secs: float = Field(10.0, gt=0)
    max_retries: int = Field(3, ge=0, le=10)
    max_concurrency: int | None = Field(
        None, ge=1, le=10_000, description="Most calls to this provider at once, across agents (default: no cap)."
    )


class OllamaProviderConfig(Section):
    base_url: str = "http://localhost:11434"
    model: str | None = None
    timeout_secs: float = Field(300.0, gt=0)
    connect_timeout_secs: float = Field(10.0, gt=0)
    max_retries: int = Field(3, ge=0, le=10)
    fallback: list[str] = Field(default_factory=list)
    max_concurrency: int | None = Field(
        None, ge=1, le=10_000, description="Most calls to this provider at once, across agents (default: no cap)."
    )


class LocalProviderConfig(Section):
    model: str | None = Field(None, description="Path to a GGUF file; default: the bundled SmolLM2-135M-Instruct.")
    n_ctx: int = Field(4096, ge=256)
    n_threads: int | None = Field(None, ge=1)
    seed: int = 0


class ProvidersConfig(Section):
    local: LocalProviderConfig = Field(default_factory=LocalProviderConfig)
    ollama: OllamaProviderConfig | None = None
    openai: RemoteProviderConfig | None = None
    anthropic: RemoteProviderConfig | None = None
    gemini: RemoteProviderConfig | None = None
    mistral: RemoteProviderConfig | None = None
    openrouter: RemoteProviderConfig | None = None


# ------------------------------------------------------------------------------------ mcp servers


class MCPServerConfig(Section):
    name: str = Field(..., pattern=r"^[A-Za-z0-9_-]+$")
    transport: Literal["stdio", "streamable_http", "http"] = "stdio"
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    url: str | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _transport_fields(self) -> MCPServerConfig:
        if self.transport == "stdio" and not (self.command or "").strip():
            raise ValueError("transport 'stdio' needs a command (for example: command: npx)")
        if self.transport in ("streamable_http", "http"):
            url = self.url or ""
            # A host must follow the scheme: "http://" and "http:///x" are rejected.
            if not url.startswith(("http://", "https://")) or url.split("://", 1)[1][:1] in ("", "/"):
                raise ValueError(f"transport '{self.transport}' needs a url starting with http:// or https://")
        return self


# ----------------------------------------------------------------------------------------- server


class ConfigValueError(ValueError):
    """A validator's error that knows the fix: the loader shows ``hint`` under the message."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def _usable_secret(value: SecretStr) -> SecretStr:
    # Runs on the interpolated value: `${AXO_KEY}` with AXO_KEY unset arrives here as "".
    # Never put the secret itself in a message.
    text = value.get_secret_value()
    if not text.strip():
        raise ConfigValueError(
            "is empty: an empty key authenticates nobody, so it must not count as auth",
            "put the key here (or `${VAR}` with VAR set), or remove the entry",
        )
    if text != text.strip():
        raise ConfigValueError(
            "starts or ends with whitespace, which HTTP clients strip before sending it",
            "remove the spaces or line breaks around the key",
        )
    if not all(" " <= ch <= "~" for ch in text):
        raise ConfigValueError(
            "contains a character an HTTP header cannot carry (a control character or non-ASCII)",
            "use printable ASCII only, for example a key from `openssl rand -hex 32`",
        )
    return value


Secret = Annotated[SecretStr, AfterValidator(_usable_secret)]


def _allowed_host(value: str) -> str:
    if value == "*":
        return value
    parsed = parse_host(value.strip())
    if parsed is None:
        raise ConfigValueError(
            f"{value!r} is not a host name",
            "write a name or address as clients send it in the Host header, e.g. daemon.example.com, "
            "daemon.example.com:8443 or 192.168.1.5 (no scheme, no path)",
        )
    return parsed.show()


def _cors_origin(value: str) -> str:
    if value == "*":
        return value
    parsed = parse_origin(value.strip())
    if parsed is None:
        raise ConfigValueError(
            f"{value!r} is not an origin",
            "an origin is scheme://host[:port] with no path or trailing slash, e.g. http://localhost:3000",
        )
    return parsed.show()


class AuthConfig(Section):
    api_keys: list[Secret] = Field(default_factory=list, description="Accepted in the x-api-key header.")
    bearer_tokens: list[Secret] = Field(default_factory=list, description="Accepted as Authorization: Bearer <token>.")
    allow_unauthenticated: bool = Field(
        False, description="Serve beyond loopback without keys (only when a proxy in front authenticates)."
    )


class RateLimitConfig(Section):
    enabled: bool = False
    max_requests: int = Field(100, gt=0, description="Requests per client IP per window.")
    window_secs: float = Field(
        60.0, gt=0, le=86_400, allow_inf_nan=False, description="Window length in seconds (at most a day)."
    )


class ServerConfig(Section):
    host: str = Field("127.0.0.1", description="Bind address; anything but loopback needs server.auth keys.")
    port: int = Field(8080, ge=0, le=65535)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    cors_origins: list[Annotated[str, AfterValidator(_cors_origin)]] = Field(
        default_factory=list,
        description="Browser origins (scheme://host[:port]) allowed to call the API and open /ws; "
        "empty: same-origin only.",
    )
    allowed_hosts: list[Annotated[str, AfterValidator(_allowed_host)]] = Field(
        default_factory=list,
        description="Host header names accepted besides localhost, 127.0.0.1, [::1] and the bind address "
        "(unless a wildcard); others get 421. An entry with a port accepts only that port; '*' accepts any.",
    )
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)
    max_body_bytes: int = Field(1_048_576, gt=0, description="Largest request body (413 above).")

    @field_validator("cors_origins")
    @classmethod
    def _wildcard_origin_needs_auth(cls, origins: list[str], info: ValidationInfo) -> list[str]:
        auth = info.data.get("auth")
        open_to_all = isinstance(auth, AuthConfig) and not (
            auth.api_keys or auth.bearer_tokens or auth.allow_unauthenticated
        )
        if "*" in origins and open_to_all:
            raise ConfigValueError(
                "'*' without server.auth keys lets every website you visit run your agents",
                "list the origins that may call the daemon, or add server.auth.api_keys",
            )
        return origins


class SandboxConfig(Section):
    allow_post_create_command: bool = False
    allow_untrusted_images: bool = False
    network: Literal["bridge", "none"] = "bridge"
    require_resource_limits: bool = False


class HookConfig(Section):
    name: str
    type: str
    phase: list[Literal["pre", "post"]] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)
    timeout_secs: float = Field(30.0, gt=0)
    url: str | None = None
    agent_id: str | None = None


class SkillConfig(Section):
    id: str = Field(..., pattern=ID_PATTERN)
    name: str | None = None
    description: str = ""
    emits: list[str] = Field(default_factory=list, description="Events published when the skill fires.")
    reacts_to: list[str] = Field(default_factory=list, description="Events that activate the agents holding it.")
    agents: list[str] = Field(default_factory=list, description="Agents holding this skill.")
    prompt: str = ""


DURATION_PATTERN = r"^\s*\d+\s*[smhd]\s*$"


class ScheduleConfig(Section):
    id: str = Field(..., pattern=ID_PATTERN)
    name: str | None = None
    workflow: str | None = Field(None, description="Workflow to run (or set agent).")
    agent: str | None = Field(None, description="One agent to run as a one-step run (or set workflow).")
    every: str | None = Field(None, pattern=DURATION_PATTERN, description="Interval such as 30s, 15m, 1h, 1d.")
    cron: str | None = Field(None, description="Cron expression such as '*/15 9-17 * * mon-fri'.")
    timezone: str = Field("UTC", min_length=1, description="IANA time zone the cron expression is read in.")
    input: str = Field("", description="The run's input.")
    enabled: bool = True
    jitter: str = Field(
        "0s", pattern=DURATION_PATTERN, description="Delay each fire by up to this much (the same in every process)."
    )
    max_concurrent: int = Field(
        1, ge=1, le=1000, description="Most runs of this schedule at once; a fire beyond it is skipped and recorded."
    )
    catch_up: Literal["skip", "once"] = Field(
        "skip", description="Fires missed while no daemon ran: skip them (recorded), or run once for them all."
    )

    @model_validator(mode="after")
    def _one_trigger(self) -> ScheduleConfig:
        if (self.every is None) == (self.cron is None):
            raise ValueError("a schedule needs exactly one of 'every' (e.g. 1h) or 'cron' (e.g. '0 9 * * *')")
        if (self.workflow is None) == (self.agent is None):
            raise ValueError("a schedule needs exactly one of 'workflow' (a workflow id) or 'agent' (an agent id)")
        return self

    @property
    def target(self) -> str:
        return f"workflow '{self.workflow}'" if self.workflow is not None else f"agent '{self.agent}'"


class ScheduleTrigger(Section):
    type: Literal["schedule"]
    every: str = Field(..., pattern=DURATION_PATTERN)


class EventTrigger(Section):
    type: Literal["on_event"]
    event: str


class ProactiveConfig(Section):
    id: str = Field(..., pattern=ID_PATTERN)
    name: str | None = None
    agent: str
    trigger: Annotated[ScheduleTrigger | EventTrigger, Field(discriminator="type")]
    input: str = ""
    enabled: bool = True


class WebSearchConfig(Section):
    """The backend of the ``web_search`` tool."""

    provider: Literal["tavily", "searxng"] = "tavily"
    api_key: SecretStr | None = Field(None, description="Tavily API key (provider: tavily).")
    url: str | None = Field(
        None,
        pattern=r"^https?://[^/]",
        description="SearXNG instance URL (provider: searxng), or another Tavily endpoint than api.tavily.com.",
    )
    max_results: int = Field(5, ge=1, le=15, description="Results returned when the call does not say.")
    timeout_secs: float = Field(20.0, gt=0)

    @model_validator(mode="after")
    def _backend_fields(self) -> WebSearchConfig:
        if self.provider == "searxng" and not self.url:
            raise ValueError(
                "provider 'searxng' needs the url of your instance (for example url: http://localhost:8888)"
            )
        return self


class HttpToolsConfig(Section):
    """Where ``http_fetch`` may go. Private, loopback and link-local addresses are refused unless allowed."""

    allow_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts (or *.domain) http_fetch may reach; empty: any public host. Listing a private "
        "or loopback host here allows it.",
    )
    deny_hosts: list[str] = Field(default_factory=list, description="Hosts (or *.domain) always refused.")
    max_bytes: int = Field(2_000_000, gt=0, description="Largest response body read; the rest is cut.")
    timeout_secs: float = Field(30.0, gt=0)


class ToolsConfig(Section):
    """Settings of the built-in tools, and the Python files defining your own (see docs/tools.md)."""

    python: list[str] = Field(
        default_factory=list,
        description="Python files (relative: to the config file) whose @axocoatl.tool functions become tools.",
    )
    max_output_chars: int = Field(
        30_000, ge=256, description="Most characters of one tool result the model sees; the rest is cut, marked."
    )
    timeout_secs: float = Field(60.0, gt=0, description="Default timeout of one tool call.")
    bash_timeout_secs: float = Field(180.0, gt=0, description="Timeout of one bash command.")
    http: HttpToolsConfig = Field(default_factory=HttpToolsConfig)


class ConsolidationConfig(Section):
    enabled: bool = True
    idle_threshold_secs: float = Field(120.0, ge=0)
    interval_secs: float = Field(1800.0, gt=0)


class WebhookConfig(Section):
    name: str = Field(..., min_length=1)
    url: str = Field(..., pattern=r"^https?://.+")
    events: list[str] = Field(default_factory=list)
    secret: SecretStr | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    enabled: bool = True


class StoreConfig(Section):
    backend: Literal["sqlite", "postgres"] = "sqlite"
    path: str | None = Field(None, description="SQLite file; default: <data dir>/axocoatl.db.")
    synchronous: Literal["full", "normal"] = Field(
        "full",
        description="SQLite durability: full fsyncs every commit (survives power loss); "
        "normal survives a process crash and is faster.",
    )
    dsn: str | None = Field(None, description="PostgreSQL connection string (backend: postgres).")


# -------------------------------------------------------------------------------------- top level


class AxocoatlConfig(Section):
    """The whole ``axocoatl.yaml``. An empty file is valid."""

    agents: list[AgentConfig] = Field(default_factory=list)
    workflows: list[WorkflowConfig] = Field(default_factory=list)
    providers: ProvidersConfig = Field(default_factory=ProvidersConfig)
    mcp_servers: list[MCPServerConfig] = Field(default_factory=list)
    server: ServerConfig = Field(default_factory=ServerConfig)
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    hooks: list[HookConfig] = Field(default_factory=list)
    skills: list[SkillConfig] = Field(default_factory=list)
    schedules: list[ScheduleConfig] = Field(default_factory=list)
    proactive: list[ProactiveConfig] = Field(default_factory=list)
    consolidation: ConsolidationConfig = Field(default_factory=ConsolidationConfig)
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    web_search: WebSearchConfig | None = None
    tools: ToolsConfig = Field(default_factory=ToolsConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)

    _agent_index: tuple[list[AgentConfig], dict[str, AgentConfig]] | None = PrivateAttr(default=None)

    def agent(self, agent_id: str) -> AgentConfig | None:
        # Indexed (a runtime with 10,000 agents looks each one up); keyed on the list object
        # itself, so a model_copy with new agents never reads a stale index.
        index = self._agent_index
        if index is None or index[0] is not self.agents:
            index = (self.agents, {a.id: a for a in reversed(self.agents)})
            self._agent_index = index
        return index[1].get(agent_id)

    def workflow(self, workflow_id: str) -> WorkflowConfig | None:
        return next((w for w in self.workflows if w.id == workflow_id), None)
