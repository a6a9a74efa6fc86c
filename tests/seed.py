"""One random seed per test session, shared by pytest-xdist workers.

Tests that pick a random kill point at collection time draw it from this seed, so every worker
collects the same test ids; set AXOCOATL_TEST_SEED to replay a session's choices."""

from __future__ import annotations

import os
import random

ENV = "AXOCOATL_TEST_SEED"


def session_seed() -> int:
    # The controller sets it before its workers start; they inherit it with the environment.
    return int(os.environ.setdefault(ENV, str(random.SystemRandom().randrange(2**32))))


def session_random(name: str) -> random.Random:
    """A generator for one test module: the same in every worker of a session."""
    return random.Random(f"{session_seed()}:{name}")
