"""Project scaffolding for ``axocoatl init``: a commented config that runs offline, plus its companions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from axocoatl.core.errors import UsageError

__all__ = ["SCAFFOLD_PROVIDERS", "TEMPLATES", "first_command", "key_env_of", "scaffold_project"]


@dataclass(frozen=True)
class _ProviderPreset:
    model: str | None  # None: the provider's own default
    key_env: str | None = None  # environment variable holding the API key
    offline: bool = False


_PRESETS: dict[str, _ProviderPreset] = {
    "local": _ProviderPreset(None, offline=True),
    "mock": _ProviderPreset(None, offline=True),
    "ollama": _ProviderPreset("llama3.2"),
    "openai": _ProviderPreset("gpt-4o-mini", "OPENAI_API_KEY"),
    "openrouter": _ProviderPreset("openai/gpt-4o-mini", "OPENROUTER_API_KEY"),
    "mistral": _ProviderPreset("mistral-small-latest", "MISTRAL_API_KEY"),
    "anthropic": _ProviderPreset("claude-sonnet-4-5", "ANTHROPIC_API_KEY"),
    "gemini": _ProviderPreset("gemini-2.0-flash", "GEMINI_API_KEY"),
}
SCAFFOLD_PROVIDERS = tuple(_PRESETS)
# The project templates: what each one starts with.
TEMPLATES = {
    "assistant": "one assistant agent to chat with",
    "research": "a research pipeline: a researcher, then a summarizer, joined by a workflow",
    "team": "a coordinator team: a lead plans the task, two workers do the parts in parallel, the lead combines them",
    "tools": "one agent with file tools (list, read, search, write, edit) in the project's workspace/ directory",
}
# What a new user runs first with each template (after `axocoatl `).
_FIRST_COMMANDS = {
    "assistant": "chat",
    "research": 'workflow run research -i "What is a write-ahead log?"',
    "team": 'workflow run team -i "How do tides work?"',
    "tools": 'chat -m "Which files are in your workspace?"',
}


def first_command(template: str) -> str:
    """The command (without `axocoatl`) that first uses a project made from ``template``."""
    return _FIRST_COMMANDS[template]


def key_env_of(provider: str) -> str | None:
    """The environment variable a scaffolded project reads ``provider``'s API key from, if it needs one."""
    preset = _PRESETS.get(provider)
    return preset.key_env if preset is not None else None


def scaffold_project(
    target_dir: Path,
    name: str,
    *,
    provider: str = "local",
    template: str = "research",
    model: str | None = None,
    base_url: str | None = None,
) -> list[Path]:
    """Write a new project into ``target_dir`` (created if needed) and return the files written.

    ``model`` replaces the provider's default model; ``base_url`` points a remote provider (or Ollama)
    at another server. Raises UsageError when ``target_dir`` already holds files, or for an unknown
    provider or template.
    """
    import dataclasses

    preset = _PRESETS.get(provider)
    if preset is None:
        raise UsageError(f"unknown provider '{provider}'", hint=f"choose one of: {', '.join(SCAFFOLD_PROVIDERS)}")
    if template not in TEMPLATES:
        raise UsageError(f"unknown template '{template}'", hint=f"choose one of: {', '.join(TEMPLATES)}")
    if model:
        preset = dataclasses.replace(preset, model=model)
    title = " ".join(name.split())
    if not title:
        raise UsageError("the project name is empty", hint="pass a name, for example `axocoatl init my-agents`")
    target = Path(target_dir)
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} exists and is not a directory", hint="choose another project name or path")
    if target.is_dir() and any(target.iterdir()):
        raise UsageError(
            f"{target} already exists and is not empty",
            hint="choose a new project name, or empty that directory first",
        )
    target.mkdir(parents=True, exist_ok=True)
    config = {
        "research": _config_text,
        "assistant": _assistant_config_text,
        "team": _team_config_text,
        "tools": _tools_config_text,
    }[template](title, provider, preset)
    if base_url:
        config = _with_base_url(config, provider, base_url)
    files = {
        "axocoatl.yaml": config,
        ".env.example": _env_example(preset),
        "README.md": _readme(title, provider, preset, template),
        ".gitignore": _GITIGNORE,
    }
    if template == "team":
        files["methods.yaml"] = _TEAM_METHODS
    if template == "tools":
        files["workspace/notes.md"] = _WORKSPACE_NOTES
    written = []
    for filename, text in files.items():
        path = target / filename
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _config_text(title: str, provider: str, preset: _ProviderPreset) -> str:
    model_line = f"    model: {preset.model}\n" if preset.model else ""
    researcher_options = summarizer_options = ""
    # The bundled model is too small to call tools: its prompt is better spent on the task.
    memory_tools = "false" if provider == "local" else "true"
    if provider == "mock":
        # The mock provider answers deterministically, which makes the pipeline testable offline.
        researcher_options = '    options:\n      reply: "Notes on: {input}"\n'
        summarizer_options = '    options:\n      reply: "Summary of the notes ({digest})"\n'
    return f"""\
# {title}: an axocoatl project.
# Check it with `axocoatl validate`; the schema is printed by `axocoatl config schema`.
# Values may use ${{VAR}}, ${{VAR:-default}} or ${{VAR:?message}}; variables come from the
# environment or from the .env file next to this one.
{_providers_section(provider, preset)}
agents:
  # An agent is a persistent worker with its own memory, model and token budget.
  - id: researcher
    name: Researcher
    provider: {provider}              # {_provider_comment(provider, preset)}
{model_line}    system_prompt: |
      You research the user's question. Reply with short, factual notes as a bullet list.
    sampling:
      max_tokens: 200               # longest reply; small models ramble without a cap
      temperature: 0.2
    memory:
      tools: {memory_tools}                   # offer the recall / core-memory tools to the model
    token_budget:
      per_execution: 4000           # most tokens one step of this agent may use
      per_call: 2048                # most tokens one model call may use
{researcher_options}
  - id: summarizer
    name: Summarizer
    provider: {provider}
{model_line}    # depends_on: this agent runs once every agent listed has completed, and receives
    # their outputs together with the original task.
    depends_on: [researcher]
    system_prompt: |
      You turn research notes into a clear summary of three sentences or fewer.
    sampling:
      max_tokens: 200
      temperature: 0.2
    memory:
      tools: {memory_tools}
    token_budget:
      per_execution: 4000
      per_call: 2048
{summarizer_options}
workflows:
  # A workflow runs its agents as a graph: entry agents (no depends_on) receive the input.
  # Run it with: axocoatl workflow run research -i "your question"
  - id: research
    name: Research and summarize
    agents: [researcher, summarizer]
    entry_point: researcher

server:
  host: 127.0.0.1                   # the dashboard and API of `axocoatl dev`
  port: 8080
"""


def _assistant_config_text(title: str, provider: str, preset: _ProviderPreset) -> str:
    model_line = f"    model: {preset.model}\n" if preset.model else ""
    memory_tools = "false" if provider == "local" else "true"
    options = '    options:\n      reply: "You said: {input}"\n' if provider == "mock" else ""
    return f"""\
# {title}: an axocoatl project with one assistant.
# Check it with `axocoatl validate` (or `axocoatl doctor`); talk to it with `axocoatl chat`.
# Values may use ${{VAR}}, ${{VAR:-default}} or ${{VAR:?message}}; variables come from the
# environment or from the .env file next to this one.
{_providers_section(provider, preset)}
agents:
  # An agent is a persistent worker with its own memory, model and token budget.
  - id: assistant
    name: Assistant
    provider: {provider}              # {_provider_comment(provider, preset)}
{model_line}    system_prompt: |
      You are a helpful assistant. Answer clearly and briefly.
    sampling:
      max_tokens: 400
      temperature: 0.3
    memory:
      tools: {memory_tools}                   # offer the recall / core-memory tools to the model
    token_budget:
      per_execution: 8000           # most tokens one turn of this agent may use
{options}
server:
  host: 127.0.0.1                   # the dashboard and API of `axocoatl dev`
  port: 8080
"""


def _team_config_text(title: str, provider: str, preset: _ProviderPreset) -> str:
    model_line = f"    model: {preset.model}\n" if preset.model else ""
    # The bundled model is too small to call tools: its prompt is better spent on the task.
    memory = "    memory: {tools: false}\n" if provider == "local" else ""
    return f"""\
# {title}: an axocoatl project with a coordinator team (docs/coordinator.md).
# The lead splits each goal into subtasks with the methods in methods.yaml, auctions each subtask
# to a worker, runs them in parallel and combines the results.
# Run it with: axocoatl workflow run team -i "your question"
{_providers_section(provider, preset)}
agents:
  - id: lead
    name: Lead
    role: coordinator                 # plans, auctions the subtasks, synthesizes the answer
    provider: {provider}              # {_provider_comment(provider, preset)}
{model_line}{memory}    system_prompt: |
      You lead a small team. Combine your workers' results into one clear answer of at most two paragraphs.
    sampling:
      max_tokens: 300
      temperature: 0.2
    token_budget:
      per_execution: 8000           # most tokens its turn may use (the synthesis reads every result)

  # Workers take the subtasks they win in the auction; they have no depends_on.
  - id: researcher
    name: Researcher
    role: worker
    provider: {provider}
{model_line}{memory}    system_prompt: |
      You answer one research question with short, factual bullet points.
    sampling:
      max_tokens: 200
      temperature: 0.2
    token_budget:
      per_execution: 4000           # most tokens one subtask may use

  - id: writer
    name: Writer
    role: worker
    provider: {provider}
{model_line}{memory}    system_prompt: |
      You write short, clear drafts.
    sampling:
      max_tokens: 250
      temperature: 0.3
    token_budget:
      per_execution: 4000

workflows:
  - id: team
    name: Plan, work in parallel, combine
    agents: [lead, researcher, writer]
    htn_methods_file: methods.yaml    # without it, the lead's model decomposes the goal
    goal_task: answer
    max_parallel: 2                   # subtasks running at once
    retries: 1                        # a failed subtask is tried once more

server:
  host: 127.0.0.1                   # the dashboard and API of `axocoatl dev`
  port: 8080
"""


_TEAM_METHODS = """\
# How the lead splits a goal into subtasks (HTN methods; the format is in docs/coordinator.md).
# {goal} is the run's input. A subtask runs once those in its `after` list are done.
- task_pattern: answer
  subtasks:
    - name: facts
      parameters: {description: "List the key facts needed to answer: {goal}"}
    - name: caveats
      parameters: {description: "Name two caveats or common mistakes about: {goal}"}
    - name: draft
      parameters: {description: "Write a short answer to: {goal}"}
      after: [facts, caveats]
"""


def _tools_config_text(title: str, provider: str, preset: _ProviderPreset) -> str:
    model_line = f"    model: {preset.model}\n" if preset.model else ""
    note = (
        "    # The bundled SmolLM2 is too small to call tools reliably: for real use pick ollama or a\n"
        "    # remote provider (`axocoatl onboard` or `axocoatl init NAME --provider ...`).\n"
        if provider == "local"
        else ""
    )
    options = (
        # The mock provider calls list_dir, then answers with its result: the tool loop, offline.
        "    options:\n"
        "      tool_calls: [{name: list_dir, arguments: {}}]\n"
        '      reply: "Your workspace holds: {tool_result}"\n'
        if provider == "mock"
        else ""
    )
    return f"""\
# {title}: an axocoatl project with an agent that uses tools (docs/tools.md).
# Talk to it with `axocoatl chat`; each tool call is shown with its arguments and result.
{_providers_section(provider, preset)}
agents:
  - id: assistant
    name: Assistant
    provider: {provider}              # {_provider_comment(provider, preset)}
{model_line}{note}    system_prompt: |
      You help with the files in your workspace. Look with your tools before you answer,
      and say which files you read or changed.
    # The tools it may call (an allow-list). Add bash to let it run commands (in a sandbox).
    tools: [list_dir, read_file, grep, glob, write_file, edit_file]
    workspace: workspace              # where its file tools work (relative to this file); paths cannot leave it
    sampling:
      max_tokens: 400
      temperature: 0.2
    token_budget:
      per_execution: 12000          # most tokens one turn may use, tool rounds included
{options}
server:
  host: 127.0.0.1                   # the dashboard and API of `axocoatl dev`
  port: 8080
"""


_WORKSPACE_NOTES = """\
# Notes

The assistant's file tools work in this directory. Put the files you want it to read or edit here.
"""


def _with_base_url(config: str, provider: str, base_url: str) -> str:
    if provider == "ollama":
        return config.replace("${OLLAMA_BASE_URL:-http://localhost:11434}", base_url)
    marker = f"\nproviders:\n  {provider}:\n"
    if marker not in config:
        raise UsageError(f"the {provider} provider has no server to point elsewhere", hint="drop --base-url")
    return config.replace(marker, f"{marker}    base_url: {base_url}\n")


def _providers_section(provider: str, preset: _ProviderPreset) -> str:
    if provider == "local":
        return (
            "\nproviders:\n"
            "  local:\n"
            "    # model: /path/to/model.gguf    # default: the bundled SmolLM2-135M-Instruct\n"
            "    n_ctx: 4096\n"
        )
    if provider == "ollama":
        return "\nproviders:\n  ollama:\n    base_url: ${OLLAMA_BASE_URL:-http://localhost:11434}\n"
    if preset.key_env:
        return f"\nproviders:\n  {provider}:\n    api_key: ${{{preset.key_env}}}       # set it in .env\n"
    return ""


def _provider_comment(provider: str, preset: _ProviderPreset) -> str:
    if provider == "local":
        return "runs a small model in-process, offline"
    if provider == "mock":
        return "deterministic replies, no model needed"
    if preset.key_env:
        return f"needs {preset.key_env}"
    return "needs a running Ollama server"


def _env_example(preset: _ProviderPreset) -> str:
    lines = ["# Copy to .env and fill in; .env is read automatically and never committed."]
    if preset.key_env:
        lines.append(f"{preset.key_env}=")
    lines += [
        "# Where axocoatl keeps its database and logs.",
        "# AXOCOATL_DATA_DIR=.axocoatl",
        "# OLLAMA_BASE_URL=http://localhost:11434",
    ]
    return "\n".join(lines) + "\n"


def _readme(title: str, provider: str, preset: _ProviderPreset, template: str = "research") -> str:
    setup = (
        "Everything runs offline: no API key is needed."
        if preset.offline
        else f"Copy `.env.example` to `.env` and fill it in ({preset.key_env or 'OLLAMA_BASE_URL'})."
    )
    if template in ("team", "tools"):
        what = (
            "a coordinator team: `lead` plans each goal with `methods.yaml` and hands the subtasks to "
            "`researcher` and `writer`"
            if template == "team"
            else "one agent, `assistant`, with file tools in `workspace/`"
        )
        return f"""\
# {title}

An axocoatl project: {what}, on the `{provider}` provider.

## Next steps

1. {setup}
2. Check everything live: `axocoatl doctor`
3. Start the runtime and dashboard: `axocoatl dev` (then open http://127.0.0.1:8080)
4. Try it: `axocoatl {first_command(template)}`

Edit `axocoatl.yaml` to add agents, workflows, skills and schedules. `axocoatl config schema`
prints every key.
"""
    if template == "assistant":
        return f"""\
# {title}

An axocoatl project: one agent, `assistant`, on the `{provider}` provider.

## Next steps

1. {setup}
2. Check everything live: `axocoatl doctor`
3. Start the runtime and dashboard: `axocoatl dev` (then open http://127.0.0.1:8080)
4. Talk to it: `axocoatl chat`

Edit `axocoatl.yaml` to add agents, workflows, skills and schedules. `axocoatl config schema`
prints every key.
"""
    return f"""\
# {title}

An axocoatl project: two agents, `researcher` and
`summarizer`, joined by the `research` workflow, on the `{provider}` provider.

## Next steps

1. {setup}
2. Check the configuration: `axocoatl validate`
3. Start the runtime and dashboard: `axocoatl dev` (then open http://127.0.0.1:8080)
4. Run the workflow: `axocoatl workflow run research -i "What is stigmergy?"`
5. Talk to one agent: `axocoatl chat -a researcher`

Edit `axocoatl.yaml` to add agents (`depends_on` wires them together), workflows,
skills and schedules. `axocoatl config schema` prints every key.
"""


_GITIGNORE = """\
# axocoatl runtime data (database, logs) and local secrets
.axocoatl/
.env
"""
