"""Property tests: random acyclic ``depends_on`` graphs validate; an injected cycle is always named."""

from __future__ import annotations

import itertools
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from axocoatl.config import AxocoatlConfig, parse_config_text, validate_config
from axocoatl.core.errors import ConfigError


@st.composite
def acyclic_graphs(draw: st.DrawFn) -> list[list[int]]:
    """deps[i] only names agents defined before i, so the graph is a DAG."""
    size = draw(st.integers(min_value=1, max_value=12))
    return [sorted(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else [] for i in range(size)]


def _yaml(deps: list[list[int]]) -> str:
    lines = ["agents:"]
    for index, parents in enumerate(deps):
        lines.append(f"  - id: a{index}")
        lines.append("    provider: mock")
        lines.append("    depends_on: [" + ", ".join(f"a{p}" for p in parents) + "]")
    lines += ["workflows:", "  - id: all", "    agents: [" + ", ".join(f"a{i}" for i in range(len(deps))) + "]"]
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None)
@given(acyclic_graphs())
def test_acyclic_graphs_validate(deps: list[list[int]]) -> None:
    loaded = parse_config_text(_yaml(deps), env={})
    assert loaded.warnings == []


@settings(max_examples=60, deadline=None)
@given(acyclic_graphs(), st.data())
def test_injected_cycle_is_rejected_and_named(deps: list[list[int]], data: st.DataObject) -> None:
    if len(deps) < 2:
        deps = [*deps, [0]]
    # Add a back edge low -> high where high already (transitively) depends on low.
    high = data.draw(st.integers(1, len(deps) - 1))
    path = [high]
    while deps[path[-1]]:
        path.append(data.draw(st.sampled_from(deps[path[-1]])))
    if len(path) == 1:
        deps[high] = [*deps[high], data.draw(st.integers(0, high - 1))]
        path.append(deps[high][-1])
    low = path[-1]
    deps[low] = sorted({*deps[low], high})
    try:
        parse_config_text(_yaml(deps), env={})
    except ConfigError as exc:
        cycles = [i for i in exc.issues if i.message.startswith("dependency cycle: ")]
    else:
        raise AssertionError("a cyclic config was accepted")
    assert cycles
    names = re.findall(r"a\d+", cycles[0].message.split("(")[0])
    assert names[0] == names[-1] and len(names) >= 3
    for node, parent in itertools.pairwise(names):
        assert int(parent[1:]) in deps[int(node[1:])], f"{node} does not depend on {parent}"


@settings(max_examples=30, deadline=None)
@given(acyclic_graphs())
def test_validate_config_agrees_with_the_loader(deps: list[list[int]]) -> None:
    config = AxocoatlConfig.model_validate(
        {"agents": [{"id": f"a{i}", "depends_on": [f"a{p}" for p in ps]} for i, ps in enumerate(deps)]}
    )
    assert validate_config(config) == []
