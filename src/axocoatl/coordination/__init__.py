"""coordination layer: pure decision logic (event lattice; later the HTN planner and auction)."""

from axocoatl.coordination.lattice import (
    LatticeStatistics,
    NodeSpec,
    NodeState,
    RunLattice,
    Subscription,
    Transition,
)

__all__ = [
    "LatticeStatistics",
    "NodeSpec",
    "NodeState",
    "RunLattice",
    "Subscription",
    "Transition",
]
