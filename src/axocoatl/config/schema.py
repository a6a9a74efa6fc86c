"""The ``axocoatl.yaml`` schema as pydantic models: every section, with defaults.

Unknown keys are rejected everywhere (``extra="forbid"``) so a typo never silently
does nothing; the loader turns those rejections into "did you mean" hints.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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
    top_k: int = Field(5, ge=1, le=20, description="Most memories injected into one request.")
    min_score: float = Field(
        0.15, ge=-1.0, le=1.0, description="Least cosine similarity a memory needs to be injected."
    )


class CoreBlockConfig(Section):
    label: str = Field(..., pattern=r"^[A-Za-z0-9_-]+$", description="The block's name (persona, human, project, ...).")
    value: str = Field("", description="Its initial text; the agent edits it from there.")
    limit: int = Field(2000, ge=0, description="Character limit; 0 means unlimited.")
    shared: bool = Field(False, description="One block shared by every agent that declares this label.")
    description: str | None = Field(None, description="What the block is for, shown to the model while it is empty.")


def _default_blocks() -> list[CoreBlockConfig]:
    return [
        CoreBlockConfig(label="persona", limit=2000, description="Who you are and how you behave."),
        CoreBlockConfig(label="human", limit=2000, description="What you know about the user you serve."),
        CoreBlockConfig(
            label="project", limit=3000, description="Durable project context, decisions, and conventions."
        ),
    ]


class CoreMemoryConfig(Section):
    blocks: list[CoreBlockConfig] = Field(
        default_factory=_default_blocks,
        description="The agent's core-memory blocks; default: persona, human and project.",
    )


class CheckpointConfig(Section):
    keep: int = Field(3, ge=1, description="How many checkpoints to keep per agent.")


class AgentMemoryConfig(Section):
    max_session_messages: int = Field(
        100, ge=2, description="Most session messages sent with a request; older ones stay in the store."
    )
    recall: RecallConfig = Field(default_factory=RecallConfig, description="Semantic recall into requests.")
    core: CoreMemoryConfig = Field(default_factory=CoreMemoryConfig, description="Core-memory blocks.")
    checkpoints: CheckpointConfig = Field(default_factory=CheckpointConfig, description="Agent checkpoints kept.")
    tools: bool = Field(
        True,
        description="Offer the memory tools (recall_search, core_memory_*) and their one-line hint. "
        "With the default blocks empty they cost about 150 prompt tokens per call: turn off for small "
        "local models that cannot call tools. Core blocks are still shown and relevant memories still injected.",
    )


class SamplingConfig(Section):
    temperature: float | None = Field(
        None, ge=0.0, le=2.0, description="Sampling temperature; default: the provider's."
    )
    top_p: float | None = Field(None, gt=0.0, le=1.0, description="Nucleus sampling; default: the provider's.")
    max_tokens: int | None = Field(None, gt=0, description="Longest reply, in tokens; default: the provider's.")
    response_format: Literal["text", "json"] = Field(
        "text", description="json asks the provider for a JSON object (each adapter's JSON mode)."
    )


class SandboxLimitsConfig(Section):
    cpu_secs: int = Field(600, ge=0, description="CPU seconds each process may use (RLIMIT_CPU); 0: no limit.")
    memory_mb: int = Field(
        4096, ge=0, description="Memory of each process in MiB (RLIMIT_AS; podman: --memory); 0: no limit."
    )
    max_processes: int = Field(
        512, ge=0, description="Processes one command may have at once (podman: --pids-limit); 0: no limit."
    )
    file_size_mb: int = Field(1024, ge=0, description="Largest file a command may write, in MiB; 0: no limit.")


class PodmanSandboxConfig(Section):
    image: str = Field(
        "docker.io/library/alpine:3.20",
        min_length=1,
        description="Image the commands run in; it must be in local storage (nothing is pulled at run time).",
    )
    rootfs: str | None = Field(
        None, description="A directory holding a root file system to run from instead of an image (--rootfs)."
    )
    runtime: str | None = Field(None, description="OCI runtime podman uses (--runtime), e.g. runc; default: podman's.")
    cgroup_manager: Literal["systemd", "cgroupfs"] | None = Field(
        None, description="cgroupfs where systemd does not run (--cgroup-manager); default: podman's."
    )
    cpus: float = Field(2.0, gt=0, description="CPUs a command may use (--cpus).")

    @model_validator(mode="after")
    def _image_or_rootfs(self) -> PodmanSandboxConfig:
        if self.rootfs is not None and "image" in self.model_fields_set:
            raise ConfigValueError(
                "image and rootfs are both set; a command runs from one of them",
                "keep image (a local image) or rootfs (a directory), not both",
            )
        return self


class SandboxConfig(Section):
    tier: Literal["auto", "bubblewrap", "podman", "none"] = Field(
        "auto",
        description="How bash commands are contained; auto: bubblewrap on Linux when bwrap is installed, else none.",
    )
    network: bool = Field(False, description="Let commands reach the network (bubblewrap, podman).")
    limits: SandboxLimitsConfig = Field(
        default_factory=SandboxLimitsConfig, description="Resource limits of each command (bubblewrap, podman, none)."
    )
    podman: PodmanSandboxConfig = Field(default_factory=PodmanSandboxConfig, description="Settings of the podman tier.")


class AgentToolConfig(Section):
    """An entry of an agent's ``tools`` that says more than the name (see docs/tools.md#approval)."""

    name: str = Field(..., min_length=1, description="The tool's name.")
    requires_approval: bool = Field(
        False, description="Each call of this tool by this agent waits for a person's decision."
    )


PATH_OPS = ("eq", "ne", "gt", "ge", "lt", "le", "contains", "exists")


class ConditionConfig(Section):
    """A condition on one dependency edge, on the upstream agent's output (exactly one of the tests)."""

    contains: str | int | float | None = Field(
        None,
        description="Taken when the output contains this text (case-sensitive); with path: when the array or "
        "text at the path contains this value.",
    )
    equals: str | None = Field(None, description="Taken when the output, trimmed, equals this text.")
    matches: str | None = Field(None, description="Taken when this regular expression matches somewhere in the output.")
    path: str | None = Field(
        None,
        description="A JSON path into the output (parsed as JSON), e.g. $.score; compare it with one of "
        "eq, ne, gt, ge, lt, le, contains, or test exists.",
    )
    eq: Any = Field(None, description="With path: taken when the value there equals this (any JSON value).")
    ne: Any = Field(None, description="With path: taken when the value there differs from this.")
    gt: float | str | None = Field(None, description="With path: taken when the value there is greater.")
    ge: float | str | None = Field(None, description="With path: taken when the value there is greater or equal.")
    lt: float | str | None = Field(None, description="With path: taken when the value there is smaller.")
    le: float | str | None = Field(None, description="With path: taken when the value there is smaller or equal.")
    exists: bool | None = Field(None, description="With path: taken when the path is (true) or is not (false) there.")
    branch: str | None = Field(None, description="Taken when the upstream router agent chose this branch.")

    @model_validator(mode="after")
    def _one_test(self) -> ConditionConfig:
        ops = [k for k in PATH_OPS if k in self.model_fields_set]
        if self.path is not None:
            # With a path, contains is the comparison (the array or text at the path contains the value).
            tests = [k for k in ("equals", "matches", "branch") if getattr(self, k) is not None]
            if tests:
                raise ValueError(f"a path condition cannot also test {', '.join(tests)}: use one condition")
            if len(ops) != 1:
                found = ", ".join(ops) or "none"
                raise ValueError(f"a path condition needs exactly one of {', '.join(PATH_OPS)} (got {found})")
            return self
        tests = [k for k in ("contains", "equals", "matches", "branch") if getattr(self, k) is not None]
        if len(tests) != 1:
            found = ", ".join(tests) or "none"
            raise ValueError(f"a condition needs exactly one of contains, equals, matches, path, branch (got {found})")
        others = [k for k in ops if k != "contains"]
        if others:
            raise ValueError(f"{', '.join(others)} compare a JSON path: add path: $.field")
        return self

    @property
    def path_op(self) -> str:
        """The comparison of a path condition."""
        return next(k for k in PATH_OPS if k in self.model_fields_set)


class MapConfig(Section):
    """Run the agent once per item of an upstream agent's output (a JSON array, else one item a line)."""

    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False, populate_by_name=True)

    over: str = Field(..., min_length=1, description="The upstream agent whose output holds the items.")
    as_: str = Field(
        "item",
        alias="as",
        pattern=r"^[A-Za-z_][A-Za-z0-9_ -]{0,63}$",
        description="What an item is called in each item step's input (`item 3 of 12: ...`).",
    )
    max_parallel: int = Field(4, ge=1, le=1000, description="Most items running at once.")


class InterruptConfig(Section):
    """Park the run for a human: before the agent runs, or after it (its output is shown with the question)."""

    when: Literal["before", "after"] = Field(..., description="Ask before the agent runs, or after it answered.")
    question: str | None = Field(None, min_length=1, description="What to ask (default: a question naming the agent).")
    timeout_secs: float | None = Field(None, gt=0, description="How long to wait for an answer (default: forever).")
    on_timeout: Literal["fail", "answer"] = Field(
        "fail", description="When no answer came in time: fail the step, or go on with default_answer."
    )
    default_answer: str | None = Field(None, description="The answer used when on_timeout is answer.")

    @model_validator(mode="after")
    def _default_needed(self) -> InterruptConfig:
        if self.on_timeout == "answer" and self.default_answer is None:
            raise ValueError("on_timeout: answer needs a default_answer (the answer used when nobody replies)")
        if self.on_timeout == "answer" and self.timeout_secs is None:
            raise ValueError("on_timeout: answer needs timeout_secs (how long to wait before using default_answer)")
        return self


class AgentConfig(Section):
    id: str = Field(..., pattern=ID_PATTERN, description="Unique agent id.")
    name: str | None = Field(None, description="Display name; defaults to the id.")
    provider: str = Field("local", min_length=1, description="local, mock, ollama, openai, anthropic, ...")
    model: str | None = Field(None, description="Model name; each provider has a default.")
    system_prompt: str | None = Field(None, description="The agent's instructions, sent first in every request.")
    tools: list[str | AgentToolConfig] = Field(
        default_factory=list,
        description="Allow-list of tools this agent may call: names, or {name, requires_approval} entries.",
    )
    workspace: str | None = Field(
        None,
        description="Directory this agent's file and shell tools work in (relative: to the config file); "
        "default: the run's workspace.",
    )
    token_budget: TokenBudgetConfig | None = Field(
        None, description="Token limits checked before every LLM call (docs/token-budgets.md); default: none."
    )
    memory: AgentMemoryConfig = Field(
        default_factory=AgentMemoryConfig, description="Recall, core blocks, checkpoints, memory tools."
    )
    depends_on: list[str] = Field(default_factory=list, description="Agents whose completion activates this one.")
    role: AgentRole = Field(
        "autonomous",
        description="coordinator: the entry agent of a workflow that plans the goal and hands subtasks to the "
        "workflow's worker agents (docs/coordinator.md); worker: one of those agents.",
    )
    activation_threshold: float | None = Field(
        None, gt=0, description="Signal needed to fire; each completed dependency deposits 0.5."
    )
    activation_decay: float | None = Field(None, ge=0, description="Per-second evaporation rate of deposited signal.")
    sampling: SamplingConfig = Field(default_factory=SamplingConfig, description="Sampling settings sent to the model.")
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
    when: dict[str, ConditionConfig] = Field(
        default_factory=dict,
        description="Conditions on depends_on edges, by upstream agent: the edge is taken only when its condition "
        "holds for that agent's output (see docs/lattice.md). An agent none of whose edges is taken is skipped.",
    )
    map: MapConfig | None = Field(
        None,
        description="Fan out: one step per item of `over`'s output; dependents get the outputs as a JSON array, "
        "in item order.",
    )
    workflow: str | None = Field(
        None,
        description="Make this step a sub-workflow: it runs that workflow as a child run (its input is the step's "
        "input, its final output the step's output); provider and model are not used.",
    )
    interrupt: InterruptConfig | None = Field(
        None,
        description="Human in the loop: `before` or `after` (or {when, question, timeout_secs, on_timeout, "
        "default_answer}) parks the run as waiting until `axocoatl runs answer` replies.",
    )
    branches: list[str] = Field(
        default_factory=list,
        description="Make this agent a router: it is asked to answer with one of these branch names, and "
        "dependents choose with when: {this-agent: {branch: NAME}}.",
    )

    sandbox: SandboxConfig | None = Field(
        None, description="This agent's sandbox; the keys it sets override the top-level sandbox's."
    )

    @field_validator("interrupt", mode="before")
    @classmethod
    def _interrupt_shorthand(cls, value: Any) -> Any:
        return {"when": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _map_over_is_a_dependency(self) -> AgentConfig:
        # A map waits for the agent it runs over: depends_on gets it when it does not list it.
        if self.map is not None and self.map.over not in self.depends_on:
            self.depends_on.append(self.map.over)
        return self

    @property
    def display_name(self) -> str:
        return self.name or self.id

    @property
    def tool_names(self) -> list[str]:
        """The names in ``tools``, in order."""
        return [t if isinstance(t, str) else t.name for t in self.tools]

    @property
    def approval_tools(self) -> frozenset[str]:
        """The tools whose calls by this agent wait for approval (``requires_approval`` entries)."""
        return frozenset(t.name for t in self.tools if not isinstance(t, str) and t.requires_approval)


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
    id: str = Field(..., pattern=ID_PATTERN, description="Unique workflow id (`axocoatl workflow run ID`).")
    name: str | None = Field(None, description="Display name; defaults to the id.")
    description: str | None = Field(None, description="What the workflow does, shown by `workflow list`.")
    agents: list[str] = Field(default_factory=list, description="Agents taking part in this workflow.")
    entry_point: str | None = Field(None, description="Agent that receives the input; default: agents without deps.")
    htn_methods_file: str | None = Field(
        None,
        description="HTN methods (YAML, relative to the config file) the coordinator plans with; "
        "without one the LLM decomposes the goal (docs/coordinator.md).",
    )
    timeout_secs: float = Field(1800.0, gt=0, description="Most seconds a run of this workflow may take.")
    workspace: str | None = Field(
        None,
        description="Directory the run's agents work in (relative: to the config file); "
        "default: a fresh directory per run under the data dir.",
    )
    goal_task: str | None = Field(
        None, min_length=1, description="Coordinator: the HTN root task of every goal (default: a method's match:)."
    )
    planner_state: dict[str, Any] = Field(
        default_factory=dict, description="Coordinator: the HTN planner's starting state (preconditions read it)."
    )
    max_parallel: int = Field(4, ge=1, le=256, description="Coordinator: most subtasks running at once.")
    retries: int = Field(1, ge=0, le=10, description="Coordinator: how often a failed subtask is tried again.")
    decomposition_rounds: int = Field(
        4, ge=1, le=10, description="Coordinator: most LLM decomposition rounds for tasks no HTN method covers."
    )
    max_depth: int = Field(16, ge=1, le=100, description="Coordinator: deepest HTN decomposition (recursion guard).")

    @property
    def display_name(self) -> str:
        return self.name or self.id


# -------------------------------------------------------------------------------------- providers


class RemoteProviderConfig(Section):
    api_key: SecretStr | None = Field(
        None, description="The key, usually ${VAR} from .env; default: the provider's variable (OPENAI_API_KEY, ...)."
    )
    base_url: str | None = Field(None, description="Another endpoint (an OpenAI-compatible server, a proxy).")
    fallback: list[str] = Field(default_factory=list, description="Providers to try when this one is rate limited.")
    timeout_secs: float = Field(60.0, gt=0, description="Most seconds to wait for the next bytes of an answer.")
    connect_timeout_secs: float = Field(10.0, gt=0, description="Most seconds to wait for a connection.")
    max_retries: int = Field(
        3, ge=0, le=10, description="Retries of a call that failed transiently (429, 5xx, network)."
    )
    max_concurrency: int | None = Field(
        None, ge=1, le=10_000, description="Most calls to this provider at once, across agents (default: no cap)."
    )


class OllamaProviderConfig(Section):
    base_url: str = Field("http://localhost:11434", description="Where Ollama listens.")
    model: str | None = Field(None, description="Model for agents that name none; default: llama3.2.")
    timeout_secs: float = Field(300.0, gt=0, description="Most seconds to wait for the next bytes of an answer.")
    connect_timeout_secs: float = Field(10.0, gt=0, description="Most seconds to wait for a connection.")
    max_retries: int = Field(3, ge=0, le=10, description="Retries of a call that failed transiently (5xx, network).")
    fallback: list[str] = Field(default_factory=list, description="Providers to try when this one is down.")
    max_concurrency: int | None = Field(
        None, ge=1, le=10_000, description="Most calls to this provider at once, across agents (default: no cap)."
    )


class LocalProviderConfig(Section):
    model: str | None = Field(None, description="Path to a GGUF file; default: the bundled SmolLM2-135M-Instruct.")
    n_ctx: int = Field(4096, ge=256, description="Context window (prompt + reply), in tokens.")
    n_threads: int | None = Field(None, ge=1, description="CPU threads llama.cpp uses; default: half the cores.")
    seed: int = Field(0, description="Sampling seed: the same request gives the same reply.")


class ProvidersConfig(Section):
    local: LocalProviderConfig = Field(
        default_factory=LocalProviderConfig, description="The embedded llama.cpp model (`axocoatl setup local-model`)."
    )
    ollama: OllamaProviderConfig | None = Field(None, description="Models served by Ollama.")
    openai: RemoteProviderConfig | None = Field(None, description="OpenAI, or any OpenAI-compatible server.")
    anthropic: RemoteProviderConfig | None = Field(None, description="Anthropic's Messages API.")
    gemini: RemoteProviderConfig | None = Field(None, description="Google's Gemini API.")
    mistral: RemoteProviderConfig | None = Field(None, description="Mistral's API.")
    openrouter: RemoteProviderConfig | None = Field(None, description="OpenRouter.")


# ------------------------------------------------------------------------------------ mcp servers


class MCPOAuthConfig(Section):
    """OAuth 2.1 client credentials for an HTTP MCP server: the token is fetched (and renewed) from the
    authorization server the MCP server names; the credentials come from environment variables."""

    client_id_env: str = Field(..., pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Env variable with the client id.")
    client_secret_env: str = Field(
        ..., pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Env variable with the client secret."
    )
    scope: str | None = Field(None, description="Scopes to ask for, space-separated.")
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] = Field(
        "client_secret_basic", description="How the credentials are sent to the token endpoint."
    )
    issuer: str | None = Field(
        None,
        pattern=r"^https?://.+",
        description="The authorization server's issuer URL: the credentials go only there. Without it the MCP "
        "server names the authorization server (validate warns).",
    )


class MCPServerConfig(Section):
    """One MCP server whose tools agents may call, as ``mcp__{name}__{tool}`` (see docs/mcp.md)."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9_-]+$", description="Short name; its tools are mcp__{name}__{tool}.")
    transport: Literal["stdio", "streamable_http", "http", "sse"] = Field(
        "stdio",
        description="stdio: start command; streamable_http (or http): connect to url; sse: the legacy HTTP+SSE "
        "transport, for servers that have nothing newer.",
    )
    command: str | None = Field(None, description="stdio: the program to start (for example npx or uvx).")
    args: list[str] = Field(default_factory=list, description="stdio: its arguments.")
    env: dict[str, str] = Field(
        default_factory=dict,
        description="stdio: environment variables for it, added to a minimal environment (PATH, HOME, USER...); "
        "the runtime's own environment is not passed on.",
    )
    cwd: str | None = Field(None, description="stdio: its working directory (relative: to the config file).")
    url: str | None = Field(None, description="streamable_http / sse: the endpoint, e.g. http://127.0.0.1:3001/mcp.")
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="HTTP headers sent with every request.")
    bearer_token_env: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="HTTP: name of an environment variable holding a token, sent as Authorization: Bearer.",
    )
    oauth: MCPOAuthConfig | None = Field(None, description="HTTP: OAuth client credentials instead of a fixed token.")
    timeout_secs: float | None = Field(
        None, gt=0, description="Longest one tool call may take; default: tools.timeout_secs."
    )
    startup_timeout_secs: float = Field(
        20.0, gt=0, description="Longest the runtime waits for the server at start before going on without it."
    )
    requires_approval: bool | list[str] = Field(
        False, description="Calls that wait for a human's approval: true (every tool) or a list of tool names/globs."
    )

    @model_validator(mode="after")
    def _transport_fields(self) -> MCPServerConfig:
        if self.transport == "stdio":
            if not (self.command or "").strip():
                raise ValueError("transport 'stdio' needs a command (for example: command: npx)")
            if self.url or self.headers or self.bearer_token_env or self.oauth:
                raise ValueError("url, headers, bearer_token_env and oauth are for HTTP transports; stdio uses command")
        else:
            url = self.url or ""
            # A host must follow the scheme: "http://" and "http:///x" are rejected.
            if not url.startswith(("http://", "https://")) or url.split("://", 1)[1][:1] in ("", "/"):
                raise ValueError(f"transport '{self.transport}' needs a url starting with http:// or https://")
            if self.command or self.args or self.env or self.cwd:
                raise ValueError(f"command, args, env and cwd are for stdio; transport '{self.transport}' uses url")
            if self.oauth and self.bearer_token_env:
                raise ValueError("give either bearer_token_env or oauth, not both: both set Authorization")
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
    enabled: bool = Field(False, description="Limit requests per client IP (429 with Retry-After above).")
    max_requests: int = Field(100, gt=0, description="Requests per client IP per window.")
    window_secs: float = Field(
        60.0, gt=0, le=86_400, allow_inf_nan=False, description="Window length in seconds (at most a day)."
    )


class ServerConfig(Section):
    host: str = Field("127.0.0.1", description="Bind address; anything but loopback needs server.auth keys.")
    port: int = Field(8080, ge=0, le=65535, description="Port of the HTTP/WebSocket API; 0: any free port.")
    auth: AuthConfig = Field(default_factory=AuthConfig, description="API keys and bearer tokens the daemon accepts.")
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
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig, description="Per-client request limit.")
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


HookKind = Literal["deny_list", "arg_size_limit", "log", "http", "python"]
HookPhase = Literal["pre", "post"]
# The phases a hook runs in when its config names none.
HOOK_PHASES: dict[str, tuple[HookPhase, ...]] = {
    "deny_list": ("pre",),
    "arg_size_limit": ("pre",),
    "log": ("pre", "post"),
    "http": ("pre", "post"),
    "python": ("pre", "post"),
}


class HookConfig(Section):
    """A hook around tool calls (see docs/tools.md#hooks). Hooks run in config order."""

    name: str = Field(..., description="Names the hook in errors, logs and the JSON it is sent.")
    type: HookKind = Field(
        ...,
        description="deny_list (deny calls, or those whose string arguments match patterns), arg_size_limit, "
        "log (a JSON line per call), http (POST the call, its JSON answer decides), python (a callable decides).",
    )
    phase: list[HookPhase] = Field(
        default_factory=list,
        description="pre (before the call: allow, deny, transform arguments), post (after it: transform the "
        "result); empty: pre for deny_list and arg_size_limit, both for the others.",
    )
    tools: list[str] = Field(default_factory=list, description="Tools it applies to (globs); empty: every tool.")
    agent_id: str | None = Field(None, description="Only calls of this agent; default: every agent.")
    timeout_secs: float = Field(
        30.0, gt=0, description="Most seconds one run of the hook may take; a pre hook that times out denies."
    )
    url: str | None = Field(None, description="http: where the call is POSTed.")
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="http: headers sent with it.")
    patterns: list[str] = Field(
        default_factory=list,
        description="deny_list: regular expressions searched in each string argument; empty: deny every call.",
    )
    reason: str | None = Field(None, description="deny_list, arg_size_limit: the reason the model is told.")
    max_bytes: int | None = Field(None, gt=0, description="arg_size_limit: most bytes of the arguments as JSON.")
    path: str | None = Field(
        None, description="log: the JSON Lines file (relative: to the config file); default: the runtime's log."
    )
    callable: str | None = Field(
        None,
        description="python: 'package.module:function', or 'file.py:function' (relative: to the config file).",
    )

    @property
    def phases(self) -> tuple[HookPhase, ...]:
        return tuple(self.phase) or HOOK_PHASES[self.type]

    @model_validator(mode="after")
    def _kind_fields(self) -> HookConfig:
        needs = {"http": "url", "python": "callable", "arg_size_limit": "max_bytes"}.get(self.type)
        if needs is not None and getattr(self, needs) is None:
            raise ValueError(f"a {self.type} hook needs {needs}")
        if self.type in ("deny_list", "arg_size_limit") and "post" in self.phase:
            raise ValueError(f"a {self.type} hook decides before the call: use phase: [pre]")
        for pattern in self.patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a regular expression: {exc}") from None
        if self.callable is not None and ":" not in self.callable:
            raise ValueError(f"callable '{self.callable}' needs the function after a colon (module:function)")
        return self


class SkillConfig(Section):
    id: str = Field(..., pattern=ID_PATTERN, description="Unique skill id (`axocoatl skills fire ID`).")
    name: str | None = Field(None, description="Display name; defaults to the id.")
    description: str = Field("", description="What the skill does, shown by `skills list`.")
    emits: list[str] = Field(default_factory=list, description="Events published when the skill fires.")
    reacts_to: list[str] = Field(default_factory=list, description="Events that activate the agents holding it.")
    agents: list[str] = Field(default_factory=list, description="Agents holding this skill.")
    prompt: str = Field("", description="Instructions added to the prompt of the agents holding it.")


DURATION_PATTERN = r"^\s*\d+\s*[smhd]\s*$"


class ScheduleConfig(Section):
    id: str = Field(..., pattern=ID_PATTERN, description="Unique schedule id (`axocoatl schedules run ID`).")
    name: str | None = Field(None, description="Display name; defaults to the id.")
    workflow: str | None = Field(None, description="Workflow to run (or set agent).")
    agent: str | None = Field(None, description="One agent to run as a one-step run (or set workflow).")
    every: str | None = Field(None, pattern=DURATION_PATTERN, description="Interval such as 30s, 15m, 1h, 1d.")
    cron: str | None = Field(None, description="Cron expression such as '*/15 9-17 * * mon-fri'.")
    timezone: str = Field("UTC", min_length=1, description="IANA time zone the cron expression is read in.")
    input: str = Field("", description="The run's input.")
    enabled: bool = Field(True, description="false: the schedule never fires (`schedules pause` does it at run time).")
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
    type: Literal["schedule"] = Field(..., description="schedule: fire at an interval or cron times.")
    every: str | None = Field(None, pattern=DURATION_PATTERN, description="Interval such as 30s, 15m, 1h, 1d.")
    cron: str | None = Field(None, description="Cron expression such as '0 7 * * 1-5'.")
    timezone: str = Field("UTC", min_length=1, description="IANA time zone the cron expression is read in.")

    @model_validator(mode="after")
    def _one_timing(self) -> ScheduleTrigger:
        if (self.every is None) == (self.cron is None):
            raise ValueError("a schedule trigger needs exactly one of 'every' (e.g. 1h) or 'cron' (e.g. '0 9 * * *')")
        return self


class EventTrigger(Section):
    type: Literal["on_event"] = Field(..., description="on_event: fire when an event is logged.")
    event: str | list[str] = Field(
        ..., description="Event name(s) that fire it: run.failed, AgentFailed, a skill event, webhook:NAME..."
    )

    @property
    def names(self) -> list[str]:
        return [self.event] if isinstance(self.event, str) else list(self.event)


class ProactiveConfig(Section):
    """An agent (or workflow) fired on a schedule or by events, on its own (see docs/automations.md)."""

    id: str = Field(..., pattern=ID_PATTERN, description="Unique id of the proactive entry (its runs: proactive:ID).")
    name: str | None = Field(None, description="Display name; defaults to the id.")
    agent: str | None = Field(None, description="The agent to run, as a one-step run (or set workflow).")
    workflow: str | None = Field(None, description="Workflow to run (or set agent).")
    trigger: Annotated[ScheduleTrigger | EventTrigger, Field(discriminator="type")] = Field(
        ..., description="When: {type: schedule, every: 1h | cron: ...} or {type: on_event, event: run.failed}."
    )
    input: str = Field(
        "", description="The run's input: a template over the event ({{ event.type }}, {{ event.payload.error }})."
    )
    cooldown: str = Field(
        "30s", pattern=DURATION_PATTERN, description="After a fire, events within this long fire nothing."
    )
    enabled: bool = Field(True, description="false: never fired.")

    @model_validator(mode="after")
    def _one_target(self) -> ProactiveConfig:
        if (self.workflow is None) == (self.agent is None):
            raise ValueError(
                "a proactive entry needs exactly one of 'agent' (an agent id) or 'workflow' (a workflow id)"
            )
        return self


class WebSearchConfig(Section):
    """The backend of the ``web_search`` tool."""

    provider: Literal["tavily", "searxng"] = Field(
        "tavily", description="tavily (needs api_key) or searxng (needs url)."
    )
    api_key: SecretStr | None = Field(None, description="Tavily API key (provider: tavily).")
    url: str | None = Field(
        None,
        pattern=r"^https?://[^/]",
        description="SearXNG instance URL (provider: searxng), or another Tavily endpoint than api.tavily.com.",
    )
    max_results: int = Field(5, ge=1, le=15, description="Results returned when the call does not say.")
    timeout_secs: float = Field(20.0, gt=0, description="Most seconds one search may take.")

    @model_validator(mode="after")
    def _backend_fields(self) -> WebSearchConfig:
        if self.provider == "searxng" and not self.url:
            raise ValueError(
                "provider 'searxng' needs the url of your instance (for example url: http://localhost:8888)"
            )
        return self


class AskHumanConfig(Section):
    """The ask_human tool's timeout policy (a call's own arguments override it)."""

    timeout_secs: float | None = Field(
        None, gt=0, description="How long a question waits for an answer (default: forever)."
    )
    on_timeout: Literal["fail", "answer"] = Field(
        "fail", description="When no answer came in time: fail the step, or give the model default_answer."
    )
    default_answer: str | None = Field(None, description="The answer the model gets when on_timeout is answer.")

    @model_validator(mode="after")
    def _default_needed(self) -> AskHumanConfig:
        if self.on_timeout == "answer" and self.default_answer is None:
            raise ValueError("on_timeout: answer needs a default_answer (the answer used when nobody replies)")
        if self.on_timeout == "answer" and self.timeout_secs is None:
            raise ValueError("on_timeout: answer needs timeout_secs (how long to wait before using default_answer)")
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
    timeout_secs: float = Field(30.0, gt=0, description="Most seconds one http_fetch may take.")


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
    http: HttpToolsConfig = Field(default_factory=HttpToolsConfig, description="Where http_fetch may go.")
    ask_human: AskHumanConfig = Field(
        default_factory=AskHumanConfig, description="How long an ask_human question waits, and what happens then."
    )


class ApprovalConfig(Section):
    """Tool calls that wait for a person's decision (see docs/tools.md#approval)."""

    timeout_secs: float = Field(
        300.0, gt=0, description="Seconds a call waits for a decision; unanswered, it is denied."
    )
    tools: list[str] = Field(
        default_factory=list, description="Tools whose every call waits for approval, whichever agent makes it."
    )
    sources: list[str] = Field(
        default_factory=list,
        description="Tool sources whose every call waits for approval: builtin, python, memory, mcp:SERVER.",
    )


class ConsolidationConfig(Section):
    enabled: bool = Field(True, description="Run sleep-time consolidation in the daemon (docs/memory.md).")
    idle_threshold_secs: float = Field(120.0, ge=0, description="How long an agent must be idle before a pass.")
    interval_secs: float = Field(1800.0, gt=0, description="Least seconds between two passes of one agent.")


class WebhookConfig(Section):
    """Events POSTed as JSON to a URL, through a durable outbox (see docs/automations.md)."""

    name: str = Field(..., min_length=1, description="Unique name of the webhook.")
    url: str = Field(..., pattern=r"^https?://.+", description="Where the events are POSTed (redirects not followed).")
    events: list[str] = Field(
        default_factory=list,
        description="Event names to send (RunStarted, WorkflowFailed, run.failed, a skill event...); "
        "empty: every event but AgentActivated and CoordinatorBid.",
    )
    secret: Secret | None = Field(
        None,
        description="Key of the x-axocoatl-signature HMAC-SHA256 of each body; write ${VAR} to read it from the "
        "environment.",
    )
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="Extra headers sent with each request.")
    enabled: bool = Field(True, description="false: nothing is sent (its deliveries wait).")
    timeout_secs: float = Field(10.0, gt=0, le=300, description="Timeout of one attempt.")
    max_attempts: int = Field(8, ge=1, le=100, description="Attempts before a delivery becomes a dead letter.")
    backoff_secs: float = Field(
        1.0, gt=0, description="Delay before the first retry; doubled at each attempt (±25% jitter)."
    )
    max_backoff_secs: float = Field(3600.0, gt=0, description="Longest delay between attempts (Retry-After too).")


class TriggerConfig(Section):
    """An inbound webhook: ``POST /hooks/{name}`` on the daemon starts a run (see docs/automations.md)."""

    name: str = Field(..., pattern=ID_PATTERN, description="The URL path: POST /hooks/NAME.")
    workflow: str | None = Field(None, description="Workflow to run (or set agent).")
    agent: str | None = Field(None, description="One agent to run as a one-step run (or set workflow).")
    input: str = Field(
        "{{ body }}",
        description="The run's input: a template over the request ({{ body }}, {{ body.some.field }}, "
        "{{ headers.x-name }}).",
    )
    secret: Secret | None = Field(
        None,
        description="HMAC-SHA256 key: a request signs '<x-axocoatl-timestamp>.<body>' in x-axocoatl-signature; "
        "write ${VAR} to read it from the environment.",
    )
    api_key: Secret | None = Field(None, description="Or: a key sent as x-api-key (or Authorization: Bearer).")
    max_skew_secs: int = Field(
        300, ge=1, le=86400, description="How far a signed request's timestamp may be from the daemon's clock."
    )
    enabled: bool = Field(True, description="false: requests are answered 404.")

    @model_validator(mode="after")
    def _target_and_check(self) -> TriggerConfig:
        if (self.workflow is None) == (self.agent is None):
            raise ValueError("a trigger needs exactly one of 'workflow' (a workflow id) or 'agent' (an agent id)")
        if self.secret is None and self.api_key is None:
            raise ValueError(
                "a trigger needs a 'secret' (signed requests) or an 'api_key': an unverified endpoint would let "
                "anyone start runs"
            )
        return self


class StoreConfig(Section):
    backend: Literal["sqlite", "postgres"] = Field("sqlite", description="sqlite (embedded, the default) or postgres.")
    path: str | None = Field(None, description="SQLite file; default: <data dir>/axocoatl.db.")
    synchronous: Literal["full", "normal"] = Field(
        "full",
        description="SQLite durability: full fsyncs every commit (survives power loss); "
        "normal survives a process crash and is faster.",
    )
    dsn: str | None = Field(
        None, description="PostgreSQL connection string (backend: postgres), e.g. ${AXOCOATL_DSN} from the environment."
    )


class ClusterConfig(Section):
    """Several nodes on one PostgreSQL store, sharing work over NATS JetStream (docs/scale-out.md)."""

    nats: list[str] = Field(
        default_factory=list,
        description="NATS server urls (nats://host:4222), e.g. ${AXOCOATL_NATS}; set: steps, scheduled fires and "
        "webhook deliveries travel as work items on JetStream (needs store.backend: postgres).",
    )
    node_id: str | None = Field(
        None,
        min_length=1,
        description="This node's name in claims and status (also `serve --node-id`); default: hostname:pid.",
    )
    stream: str = Field(
        "AXOCOATL",
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The JetStream stream of work items, and the prefix of its subjects (one per project).",
    )
    replicas: int | None = Field(
        None,
        ge=1,
        le=5,
        description="Copies of the work stream; default: 3 when the NATS cluster has at least 3 servers, else 1.",
    )
    ack_wait_secs: float = Field(
        30.0,
        gt=0,
        description="How long a claimed item may go without a heartbeat before another node gets it "
        "(a node that dies loses its claims after this).",
    )


# ---------------------------------------------------------------------------------- interop


EXPOSE_DOC = "agent ids and workflow/ID entries; default (unset): every agent and workflow"


class OpenAIApiConfig(Section):
    """The OpenAI-compatible endpoint of the daemon (``/v1``; see docs/openai-endpoint.md)."""

    enabled: bool = Field(True, description="Serve /v1/models and /v1/chat/completions.")
    expose: list[str] | None = Field(None, description=f"Models offered: {EXPOSE_DOC}.")


class A2AConfig(Section):
    """The A2A server of the daemon (agent cards, JSON-RPC and HTTP+JSON; see docs/a2a.md)."""

    enabled: bool = Field(True, description="Serve the agent cards and the /a2a/{id} endpoints.")
    expose: list[str] | None = Field(None, description=f"Skills offered, one endpoint each: {EXPOSE_DOC}.")
    default: str | None = Field(
        None,
        description="Where the root card (/.well-known/agent-card.json) points: an exposed agent id or "
        "workflow/ID; default: the first exposed workflow, else the first agent.",
    )
    push_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts (host or host:port) push notifications may be sent to; empty: push notifications are off.",
    )
    name: str = Field("axocoatl", min_length=1, description="The agent name the root card shows.")
    description: str = Field("An axocoatl multi-agent runtime.", description="The root card's description.")

    @field_validator("push_hosts")
    @classmethod
    def _push_hosts(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            if parse_host(host) is None:
                raise ConfigValueError(
                    f"{host!r} is not a host", "write a host name or address, maybe with :port (no scheme, no path)"
                )
        return hosts


class A2AAgentConfig(Section):
    """A remote A2A agent our agents can call: tool ``a2a__{name}``, or ``provider: a2a`` with ``model: NAME``."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9_-]+$", description="Names the tool a2a__NAME.")
    url: str = Field(
        ...,
        pattern=r"^https?://[^/]",
        description="Its agent card URL, or the base URL that serves /.well-known/agent-card.json.",
    )
    headers: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="HTTP headers sent with every request, e.g. {x-api-key: '${REMOTE_KEY}'} (auth from the env).",
    )
    description: str | None = Field(None, description="What the tool tells the model; default: names the agent.")
    timeout_secs: float = Field(300.0, gt=0, description="Most seconds one message may take, reply included.")
    retries: int = Field(2, ge=0, le=10, description="Retries of a card fetch or send that could not connect.")

    @field_validator("headers")
    @classmethod
    def _usable_headers(cls, headers: dict[str, SecretStr]) -> dict[str, SecretStr]:
        return {name: _usable_secret(value) for name, value in headers.items()}


# -------------------------------------------------------------------------------------- top level


class AxocoatlConfig(Section):
    """The whole ``axocoatl.yaml``. An empty file is valid."""

    agents: list[AgentConfig] = Field(default_factory=list, description="The agents (docs/CONCEPTS.md#agents).")
    workflows: list[WorkflowConfig] = Field(default_factory=list, description="Workflows: agents working on one task.")
    providers: ProvidersConfig = Field(default_factory=ProvidersConfig, description="Settings per model provider.")
    mcp_servers: list[MCPServerConfig] = Field(default_factory=list, description="MCP servers offering tools.")
    server: ServerConfig = Field(default_factory=ServerConfig, description="The daemon's HTTP/WebSocket API.")
    sandbox: SandboxConfig = Field(
        default_factory=SandboxConfig, description="How bash commands are contained (docs/tools.md#sandbox-tiers)."
    )
    hooks: list[HookConfig] = Field(default_factory=list, description="Hooks run before or after tool calls.")
    skills: list[SkillConfig] = Field(
        default_factory=list, description="Skills: named events agents emit and react to."
    )
    schedules: list[ScheduleConfig] = Field(default_factory=list, description="Runs started on a timetable.")
    proactive: list[ProactiveConfig] = Field(
        default_factory=list, description="Agents woken on a timetable or an event."
    )
    consolidation: ConsolidationConfig = Field(
        default_factory=ConsolidationConfig, description="Sleep-time memory consolidation."
    )
    webhooks: list[WebhookConfig] = Field(default_factory=list, description="Events POSTed to HTTP endpoints.")
    triggers: list[TriggerConfig] = Field(
        default_factory=list, description="Inbound webhooks: POST /hooks/NAME starts a run."
    )
    web_search: WebSearchConfig | None = Field(None, description="The backend of the web_search tool.")
    tools: ToolsConfig = Field(default_factory=ToolsConfig, description="Built-in tool settings and Python tools.")
    approval: ApprovalConfig = Field(
        default_factory=ApprovalConfig, description="Tool calls that wait for a person's decision."
    )
    store: StoreConfig = Field(default_factory=StoreConfig, description="Where durable state lives.")
    cluster: ClusterConfig = Field(
        default_factory=ClusterConfig, description="Several nodes sharing work over NATS (docs/scale-out.md)."
    )
    openai_api: OpenAIApiConfig = Field(
        default_factory=OpenAIApiConfig, description="The OpenAI-compatible endpoint (docs/openai-endpoint.md)."
    )
    a2a: A2AConfig = Field(default_factory=A2AConfig, description="The A2A server (docs/a2a.md).")
    a2a_agents: list[A2AAgentConfig] = Field(
        default_factory=list, description="Remote A2A agents, as tools and providers (docs/a2a.md)."
    )

    _agent_index: tuple[list[AgentConfig], dict[str, AgentConfig]] | None = PrivateAttr(default=None)
    _environment: dict[str, str] | None = PrivateAttr(default=None)

    def environment(self) -> dict[str, str] | None:
        """The variables the file was loaded with (the process environment over the ``.env`` beside it), where
        providers look up their keys; None for a config made in code (they use the process environment)."""
        return self._environment

    def set_environment(self, environment: Mapping[str, str]) -> None:
        self._environment = dict(environment)

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
