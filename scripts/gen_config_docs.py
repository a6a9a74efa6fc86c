"""Regenerate the reference tables of docs/configuration.md from the pydantic schema.

.venv/bin/python scripts/gen_config_docs.py          # rewrite the generated part
.venv/bin/python scripts/gen_config_docs.py --check  # exit 1 when it is out of date (tests run this)

Every key needs a description (pydantic ``Field(description=...)`` in config/schema.py): both modes exit 1
naming the keys without one, so the reference never has an empty cell.
"""

from __future__ import annotations

import functools
import operator
import sys
import types
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from axocoatl.config.schema import AxocoatlConfig

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
BEGIN = "<!-- BEGIN GENERATED REFERENCE -->"
END = "<!-- END GENERATED REFERENCE -->"


def _models(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found.extend(_models(arg))
    return found


def _strip_annotated(annotation: object) -> object:
    # Annotated[str, AfterValidator(...)] documents as str (the validator's repr has an address).
    if typing.get_origin(annotation) is typing.Annotated:
        return _strip_annotated(typing.get_args(annotation)[0])
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list and args:
        return list[_strip_annotated(args[0])]
    if origin in (typing.Union, types.UnionType) and any(typing.get_origin(a) is typing.Annotated for a in args):
        return functools.reduce(operator.or_, (_strip_annotated(a) for a in args))
    return annotation


def _type_name(annotation: object) -> str:
    annotation = _strip_annotated(annotation)
    text = repr(annotation) if not isinstance(annotation, type) else annotation.__name__
    for noise in ("typing.", "pydantic.types.", "axocoatl.config.schema.", "Annotated[", "NoneType"):
        text = text.replace(noise, "None" if noise == "NoneType" else "")
    return text.replace("|", "\\|")


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return "(section)"
        return f"`{value!r}`" if value not in ([], {}) else f"`{value}`"
    if field.default is PydanticUndefined or field.default is None:
        return "—"
    return f"`{field.default!r}`"


def render(undescribed: list[str] | None = None) -> str:
    """The reference tables; the path of every key without a description is appended to ``undescribed``."""
    lines: list[str] = []
    seen: set[type[BaseModel]] = set()
    queue: list[tuple[str, type[BaseModel]]] = [("(top level)", AxocoatlConfig)]
    while queue:
        path, model = queue.pop(0)
        if model in seen:
            continue
        seen.add(model)
        lines += [f"### `{path}`", ""]
        doc = (model.__doc__ or "").strip().splitlines()
        if doc:
            lines += [doc[0], ""]
        lines += ["| key | type | default | description |", "|---|---|---|---|"]
        for attribute, field in model.model_fields.items():
            name = field.alias or attribute  # `as`, spelled as_ in Python
            description = " ".join((field.description or "").split()).replace("|", "\\|")
            if not description and undescribed is not None:
                undescribed.append(name if path == "(top level)" else f"{path}.{name}")
            lines.append(f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | {description} |")
            for sub in _models(field.annotation):
                sub_path = name if path == "(top level)" else f"{path}.{name}"
                if typing.get_origin(field.annotation) is list or "list[" in repr(field.annotation):
                    sub_path += "[]"
                queue.append((sub_path, sub))
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    text = DOC.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    undescribed: list[str] = []
    updated = f"{head}{BEGIN}\n\n{render(undescribed)}\n{END}{tail}"
    if undescribed:
        print(
            f"{len(undescribed)} config keys have no description (add Field(description=...) in "
            f"src/axocoatl/config/schema.py): {', '.join(undescribed)}",
            file=sys.stderr,
        )
        return 1
    if "--check" in sys.argv:
        if updated != text:
            print(f"{DOC} is out of date: run .venv/bin/python scripts/gen_config_docs.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
