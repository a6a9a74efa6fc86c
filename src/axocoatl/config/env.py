"""The environment a config sees: ``.env`` parsing and ``${VAR}`` interpolation of string values.
Nothing here touches ``os.environ``; callers build a mapping and pass it down."""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from axocoatl.core.errors import ConfigIssue

__all__ = [
    "DOTENV_NAME",
    "MAX_FILE_BYTES",
    "Interpolated",
    "build_environment",
    "interpolate",
    "parse_dotenv",
    "read_text_file",
    "variable_hint",
]

DOTENV_NAME = ".env"
# A config or .env is a few KB; a path to /dev/zero or a huge log must not be read into memory.
MAX_FILE_BYTES = 8 * 1024 * 1024

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_DOTENV_LINE = re.compile(rf"^\s*(?:export\s+)?({_NAME})\s*=\s*(.*?)\s*$", re.DOTALL)
# `$${` must win over `${` at the same position, hence the alternation order.
_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_REFERENCE_BODY = re.compile(rf"^({_NAME})(?:(:-|:\?)(.*))?$", re.DOTALL)
_DOUBLE_QUOTED_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def parse_dotenv(text: str, *, file: str = DOTENV_NAME) -> tuple[dict[str, str], list[ConfigIssue]]:
    """Parse ``KEY=VALUE`` lines; returns the values and a warning for every line it could not read."""
    values: dict[str, str] = {}
    warnings: list[ConfigIssue] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _DOTENV_LINE.match(raw)
        value = _dotenv_value(match.group(2)) if match else None
        if match is None or value is None:
            warnings.append(
                ConfigIssue(
                    path=DOTENV_NAME,
                    message=f"cannot read line {number}: {stripped[:60]!r}",
                    hint="write KEY=VALUE (optionally prefixed by 'export'); quote values containing '#'",
                    file=file,
                    line=number,
                    severity="warning",
                )
            )
            continue
        values[match.group(1)] = value
    return values, warnings


def _dotenv_value(raw: str) -> str | None:
    if raw[:1] in ("'", '"'):
        quote = raw[0]
        end = _closing_quote(raw, quote)
        if end is None:
            return None
        rest = raw[end + 1 :].strip()
        if rest and not rest.startswith("#"):
            return None
        body = raw[1:end]
        if quote == "'":
            return body
        return re.sub(r"\\(.)", lambda m: _DOUBLE_QUOTED_ESCAPES.get(m.group(1), m.group(0)), body)
    # Unquoted: a comment starts at " #", so URLs with fragments like a#b survive.
    return re.split(r"\s+#", raw, maxsplit=1)[0].strip()


def _closing_quote(raw: str, quote: str) -> int | None:
    index = 1
    while index < len(raw):
        char = raw[index]
        if char == "\\" and quote == '"':
            index += 2
            continue
        if char == quote:
            return index
        index += 1
    return None


def build_environment(
    config_dir: Path, base: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[ConfigIssue]]:
    """``base`` (default: the process environment) layered over ``config_dir/.env``.

    A variable set in ``base`` wins, so a shell export overrides the file; one exported empty does not
    (``export OPENAI_API_KEY=`` would otherwise hide the key the file holds, as ``${VAR:-x}`` treats it unset).
    """
    env = dict(os.environ if base is None else base)
    dotenv = config_dir / DOTENV_NAME
    try:
        text = read_text_file(dotenv)
    except FileNotFoundError:
        return env, []
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        issue = ConfigIssue(
            path=DOTENV_NAME,
            message=f"cannot read {dotenv}: {reason}",
            hint="make it a readable UTF-8 file of KEY=VALUE lines, or delete it",
            file=str(dotenv),
            severity="warning",
        )
        return env, [issue]
    values, warnings = parse_dotenv(text, file=str(dotenv))
    for key, value in values.items():
        if not env.get(key):
            env[key] = value
    return env, warnings


def read_text_file(path: Path) -> str:
    """A UTF-8 text file of at most MAX_FILE_BYTES; OSError (EFBIG when larger) or UnicodeDecodeError."""
    with path.open("rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise OSError(errno.EFBIG, f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB", str(path))
    return data.decode("utf-8")


@dataclass
class Interpolated:
    """The result of interpolating one string, with what went wrong along the way."""

    value: str
    unset: list[str] = field(default_factory=list)  # ${VAR} references that had no value
    errors: list[tuple[str, str]] = field(default_factory=list)  # (message, hint)


def interpolate(text: str, env: Mapping[str, str]) -> Interpolated:
    """Expand ``${VAR}``, ``${VAR:-default}``, ``${VAR:?message}``; ``$${`` stands for a literal ``${``."""
    if "$" not in text:
        return Interpolated(text)
    result = Interpolated(text)

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "$${":
            return "${"
        body = match.group(1)
        if body is None:
            result.errors.append(
                ("'${' is never closed by '}'", "close the reference as ${NAME}, or write $${ for a literal ${")
            )
            return token
        parsed = _REFERENCE_BODY.match(body)
        if parsed is None:
            result.errors.append(
                (
                    f"invalid variable reference '{token}'",
                    "use ${NAME}, ${NAME:-default} or ${NAME:?message}; names are letters, digits and _; "
                    "write $${ for a literal ${",
                )
            )
            return token
        name, operator, argument = parsed.groups()
        value = env.get(name)
        if value and not _is_unicode(value):
            result.errors.append(
                (
                    f"environment variable {name} is not UTF-8 text",
                    f"set {name} to UTF-8 text: its value holds bytes that are not UTF-8",
                )
            )
            return ""
        if value:
            return value
        if operator == ":-":
            return str(argument)
        if operator == ":?":
            detail = argument or "is required"
            result.errors.append((f"environment variable {name} is not set: {detail}", variable_hint(name)))
            return ""
        if value is None:
            result.unset.append(name)
        return ""

    result.value = _REFERENCE.sub(replace, text)
    return result


def _is_unicode(text: str) -> bool:
    # The OS hands Python undecodable bytes as lone surrogates; such text cannot be stored or printed.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def variable_hint(name: str) -> str:
    """How to give ``name`` a value; shown for unset ``${VAR}`` references."""
    return f"set {name} in the environment, or add {name}=... to the .env file next to the config"
