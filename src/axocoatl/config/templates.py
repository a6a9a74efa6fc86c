"""Project scaffolding for ``axocoatl init``: a commented config that runs offline, plus its companions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from axocoatl.core.errors import UsageError

__all__ = ["SCAFFOLD_PROVIDERS", "TEMPLATES", "key_env_of", "scaffold_project"]


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
}


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
    config = (
        _config_text(title, provider, preset)
        if template == "research"
        else _assistant_config_text(title, provider, preset)
    )
    if base_url:
        config = _with_base_url(config, provider, base_url)
    files = {
        "axocoatl.yaml": config,
        ".env.example": _env_example(preset),
        "README.md": _readme(title, provider, preset, template),
        ".gitignore": _GITIGNORE,
    }
    written = []
    for filename, text in files.items():
        path = target / filename
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
