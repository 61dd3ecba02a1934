"""Shared fixtures: a running Entra ID simulator and Django settings that point at it."""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.workers"]


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def sim_tenant(request):
    """A small generated tenant; parametrize indirectly with (size, seed) for others."""
    from entrasim import generate_tenant

    size, seed = getattr(request, "param", (40, 3))
    return generate_tenant(privileged_assignments=size, seed=seed)


@pytest.fixture
def sim(tmp_path, sim_tenant):
    from entrasim import Simulator

    simulator = Simulator(sim_tenant, state_dir=tmp_path / "sim", page_size=10)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def graph_settings(sim, settings, monkeypatch):
    """Point spreview's Graph settings at the simulator, with quick retries."""
    env = sim.env()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", env["REQUESTS_CA_BUNDLE"])
    settings.AZURE_TENANT_ID = env["AZURE_TENANT_ID"]
    settings.AZURE_CLIENT_ID = env["AZURE_CLIENT_ID"]
    settings.AZURE_CLIENT_SECRET = env["AZURE_CLIENT_SECRET"]
    settings.AZURE_CLIENT_CERTIFICATE_PATH = ""
    settings.AZURE_CLIENT_CERTIFICATE_PASSWORD = ""
    settings.AZURE_FEDERATED_TOKEN_FILE = ""
    settings.AZURE_AUTHORITY_HOST = env["AZURE_AUTHORITY_HOST"]
    settings.GRAPH_URL = env["GRAPH_URL"]
    settings.GRAPH_MAX_BACKOFF_SECONDS = 0.2
    settings.GRAPH_MAX_ATTEMPTS = 6
    return settings
