"""A small simulated world and its log, shared by the ranking tests (a few seconds to make)."""

from __future__ import annotations

import pytest

from reelmind.ranking.dataset import Examples, build_examples
from reelmind.ranking.simulator import SimConfig, SimLog, World, make_world, simulate

SMALL = SimConfig(seed=3, n_users=160, n_videos=300, n_authors=60, days=6)


@pytest.fixture(scope="session")
def world() -> World:
    return make_world(SMALL)


@pytest.fixture(scope="session")
def sim(world: World) -> SimLog:
    return simulate(world)


@pytest.fixture(scope="session")
def examples(world: World, sim: SimLog) -> Examples:
    return build_examples(sim.log, world.videos.table)
