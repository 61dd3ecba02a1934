"""Fixtures for the simulator's own tests: running simulators and a thin Graph client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from entrasim import Simulator, generate_tenant

from .simgraph import NOW, Graph


@pytest.fixture(scope="module")
def shared_sim(tmp_path_factory) -> Iterator[Simulator]:
    """Read-only tests share one simulator: a 60-assignment tenant, pages of 7."""
    tenant = generate_tenant(privileged_assignments=60, seed=5, now=NOW)
    sim = Simulator(tenant, state_dir=tmp_path_factory.mktemp("shared-sim"), page_size=7)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def graph(shared_sim) -> Graph:
    return Graph(shared_sim)


@pytest.fixture
def fresh_sim(tmp_path) -> Iterator[Simulator]:
    """A private simulator for tests that change the tenant or flip faults."""
    tenant = generate_tenant(privileged_assignments=25, seed=2, now=NOW)
    sim = Simulator(tenant, state_dir=tmp_path / "sim", page_size=5)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def fresh_graph(fresh_sim) -> Graph:
    return Graph(fresh_sim)
