"""The config layer: the ``axocoatl.yaml`` schema, its loader and validation, and project templates."""

from axocoatl.config.json_schema import config_json_schema
from axocoatl.config.loader import LoadedConfig, load_config, parse_config_text
from axocoatl.config.schema import (
    AgentConfig,
    AgentMemoryConfig,
    AxocoatlConfig,
    CoreBlockConfig,
    HookConfig,
    LocalProviderConfig,
    MCPServerConfig,
    MockOptions,
    OllamaProviderConfig,
    ProactiveConfig,
    ProvidersConfig,
    RemoteProviderConfig,
    SamplingConfig,
    ScheduleConfig,
    ServerConfig,
    SkillConfig,
    StoreConfig,
    TokenBudgetConfig,
    WebhookConfig,
    WorkflowConfig,
)
from axocoatl.config.templates import scaffold_project
from axocoatl.config.validation import validate_config

__all__ = [
    "AgentConfig",
    "AgentMemoryConfig",
    "AxocoatlConfig",
    "CoreBlockConfig",
    "HookConfig",
    "LoadedConfig",
    "LocalProviderConfig",
    "MCPServerConfig",
    "MockOptions",
    "OllamaProviderConfig",
    "ProactiveConfig",
    "ProvidersConfig",
    "RemoteProviderConfig",
    "SamplingConfig",
    "ScheduleConfig",
    "ServerConfig",
    "SkillConfig",
    "StoreConfig",
    "TokenBudgetConfig",
    "WebhookConfig",
    "WorkflowConfig",
    "config_json_schema",
    "load_config",
    "parse_config_text",
    "scaffold_project",
    "validate_config",
]
