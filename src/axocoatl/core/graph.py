"""Pure graph helpers over ``depends_on`` maps: topological order and cycle detection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def find_cycle(deps: Mapping[str, Sequence[str]]) -> list[str] | None:
    """Return one dependency cycle as ``[a, b, ..., a]``, or None when the graph is acyclic.

    Edges to nodes absent from ``deps`` are ignored (they are reported elsewhere as unknown ids).
    """
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(deps, white)
    for root in deps:
        if color[root] != white:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = [root]
        color[root] = grey
        while stack:
            node, index = stack[-1]
            children = [d for d in deps[node] if d in deps]
            if index < len(children):
                stack[-1] = (node, index + 1)
                child = children[index]
                if color[child] == grey:
                    start = path.index(child)
                    return [*path[start:], child]
                if color[child] == white:
                    color[child] = grey
                    stack.append((child, 0))
                    path.append(child)
            else:
                color[node] = black
                stack.pop()
                path.pop()
    return None


def topological_order(deps: Mapping[str, Sequence[str]]) -> list[str]:
    """Kahn's order; ties keep the mapping's order, so the result is deterministic.

    Raises ValueError on a cycle. Edges to unknown nodes are ignored.
    """
    indegree = {n: sum(1 for d in set(deps[n]) if d in deps) for n in deps}
    dependents: dict[str, list[str]] = {n: [] for n in deps}
    for node, parents in deps.items():
        for parent in dict.fromkeys(parents):
            if parent in deps:
                dependents[parent].append(node)
    position = {n: i for i, n in enumerate(deps)}
    ready = sorted((n for n, d in indegree.items() if d == 0), key=position.__getitem__)
    order: list[str] = []
    while ready:
        node = ready.pop(0)
        order.append(node)
        released = []
        for child in dependents[node]:
            indegree[child] -= 1
            if indegree[child] == 0:
                released.append(child)
        if released:
            ready = sorted([*ready, *released], key=position.__getitem__)
    if len(order) != len(deps):
        raise ValueError(f"dependency cycle: {' -> '.join(find_cycle(deps) or [])}")
    return order
