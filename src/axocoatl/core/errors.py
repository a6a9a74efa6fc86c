"""The one exception hierarchy of axocoatl, split by who must act.

    AxocoatlError
    ├── ConfigError            the user's axocoatl.yaml is wrong (carries every issue at once)
    ├── UsageError             the Python API or CLI was misused (a wrong input, a run in the wrong state…)
    │   └── NotFound                an unknown agent, workflow or run id (the CLI exits 3)
    ├── ProviderError          a model provider failed
    │   ├── ProviderUnavailable     network / connect / read timeout / 5xx (retryable)
    │   ├── RateLimited             429, with retry_after (retryable)
    │   ├── AuthenticationFailed    missing or rejected key (never retried)
    │   ├── ModelNotFound
    │   ├── ContextLengthExceeded
    │   ├── ProviderResponseError   4xx validation or an unreadable / truncated response
    │   └── MockFailure             a failure injected on purpose by the mock provider
    ├── BudgetExceeded         a token budget refused an LLM call (overflow_policy: abort)
    ├── ToolError              a tool call failed; the message goes back to the model
    │   └── ToolNotAllowed
    ├── SandboxUnavailable     the configured sandbox tier cannot run on this machine
    ├── AgentTimeout           an agent's turn took longer than its timeout_secs
    ├── MailboxClosed          the agent was stopped on purpose
    ├── StoreError             the database failed (never leaks sqlite3 / psycopg types)
    │   └── OwnershipLost      another process took over a run this one was driving
    ├── PlanningError          a coordinator could not plan its goal (HTN methods, LLM decomposition)
    ├── RemoteAgentError       a remote A2A agent could not be reached, or its task did not complete
    └── ClusterError           the NATS cluster that shares work between nodes failed

Every message says what was wrong, where, and how to fix it. Exceptions keep plain
constructor arguments so they pickle and can be stored as a step's error text.
"""

from __future__ import annotations

from dataclasses import dataclass


class AxocoatlError(Exception):
    """Base of every error axocoatl raises on purpose."""

    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[AxocoatlError], state: dict[str, object]) -> AxocoatlError:
    err = cls.__new__(cls)
    Exception.__init__(err, state.get("message", ""))
    err.__dict__.update(state)
    return err


@dataclass(frozen=True)
class ConfigIssue:
    """One problem found in a config file."""

    path: str  # field path such as agents[writer].depends_on[1]
    message: str  # what is wrong
    hint: str | None = None  # how to fix it
    file: str | None = None
    line: int | None = None
    severity: str = "error"  # "error" or "warning"

    def location(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}"
        return self.file or "<config>"

    def render(self) -> str:
        text = f"{self.location()}: {self.path}: {self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


class ConfigError(AxocoatlError):
    """The configuration is invalid. Holds every issue found, not just the first."""

    def __init__(self, issues: list[ConfigIssue], *, file: str | None = None) -> None:
        self.issues = issues
        self.file = file
        count = len(issues)
        head = f"{file or 'config'} has {count} error{'s' if count != 1 else ''}"
        body = "\n".join(issue.render() for issue in issues)
        super().__init__(f"{head}:\n{body}" if body else head)


class UsageError(AxocoatlError):
    """The API or CLI was called with something that does not exist or does not fit."""


class NotFound(UsageError):
    """An agent, workflow or run id that does not exist."""


class ProviderError(AxocoatlError):
    """A model provider failed."""

    retryable: bool = False

    def __init__(self, message: str, *, provider: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.provider = provider


class ProviderUnavailable(ProviderError):
    retryable = True


class RateLimited(ProviderError):
    retryable = True

    def __init__(
        self, message: str, *, provider: str = "", retry_after: float | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, provider=provider, hint=hint)
        self.retry_after = retry_after


class AuthenticationFailed(ProviderError):
    pass


class ModelNotFound(ProviderError):
    pass


class ContextLengthExceeded(ProviderError):
    pass


class ProviderResponseError(ProviderError):
    def __init__(self, message: str, *, provider: str = "", status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, provider=provider, hint=hint)
        self.status = status


class MockFailure(ProviderError):
    """A failure the mock provider injects because its options asked for one."""


class BudgetExceeded(AxocoatlError):
    """A token budget refused an LLM call before it was made."""

    def __init__(
        self,
        message: str,
        *,
        agent_id: str = "",
        budget: str = "",
        used: int = 0,
        requested: int = 0,
        limit: int = 0,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.agent_id = agent_id
        self.budget = budget
        self.used = used
        self.requested = requested
        self.limit = limit


class ToolError(AxocoatlError):
    """A tool call failed; the message is returned to the model as the tool result."""


class ToolNotAllowed(ToolError):
    pass


class HumanQuestion(Exception):
    """Raised by the ask_human tool: the workflow step parks as ``waiting`` with ``question`` until a person
    answers it (or ``timeout_secs`` pass). Not a failure: the step's turn resumes from its journal with the
    answer as the call's result. The tool pipeline lets it through (it is no tool error)."""

    def __init__(self, question: str, timeout_secs: float | None) -> None:
        super().__init__(question)
        self.question = question
        self.timeout_secs = timeout_secs


class NoAnswer(AxocoatlError):
    """An ask_human question got no answer in time and its policy is ``on_timeout: fail``: the step fails."""


class SandboxUnavailable(AxocoatlError):
    """The configured sandbox tier cannot run here (bwrap or podman missing, its image not pulled)."""


class AgentTimeout(AxocoatlError):
    pass


class MailboxClosed(AxocoatlError):
    pass


class StoreError(AxocoatlError):
    pass


class OwnershipLost(StoreError):
    """A run was taken over by another process; this one must stop writing its steps."""


class FireTaken(StoreError):
    """A schedule's slot was fired by another process first, or its runs are at max_concurrent."""

    def __init__(self, message: str, *, hint: str | None = None, overlap: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.overlap = overlap


class PlanningError(AxocoatlError):
    """A coordinator could not plan its goal: no HTN method applies, or the LLM's decomposition was unusable."""


class RemoteAgentError(AxocoatlError):
    """A remote A2A agent failed: unreachable or a bad card (``retryable``), or its task failed."""

    def __init__(self, message: str, *, hint: str | None = None, retryable: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.retryable = retryable


class Unauthorized(UsageError):
    """A request to an inbound trigger without a valid signature or key (or with a stale timestamp)."""


class ClusterError(AxocoatlError):
    """The NATS cluster that shares work between nodes is unreachable or refused a request."""
