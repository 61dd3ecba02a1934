"""Shared fixtures: a running Entra ID simulator and Django settings that point at it; the cast
of personas, the tenants and the review cycles the tests share."""

from __future__ import annotations

import pytest

from reviews.models import Campaign, Cycle
from tests import factories

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


# --- the cast and the tenants (builders in tests/factories.py) ------------------------------


@pytest.fixture
def admin(db):
    """Ada, the admin (staff)."""
    return factories.make_admin()


@pytest.fixture
def auditor(db):
    """Bob, the auditor: signed in, reads everything, changes nothing."""
    return factories.make_auditor()


@pytest.fixture
def rita(db):
    return factories.make_reviewer("rita-reviewer", "rita@contoso.example")


@pytest.fixture
def rob(db):
    return factories.make_reviewer("rob-reviewer", "rob@contoso.example")


@pytest.fixture
def as_admin(admin):
    return factories.login(admin)


@pytest.fixture
def as_auditor(auditor):
    return factories.login(auditor)


@pytest.fixture
def anonymous(db):
    return factories.login(None)


@pytest.fixture
def tenant(db):
    """The configured tenant, synced once."""
    return factories.make_tenant()


@pytest.fixture
def other_tenant(db):
    return factories.make_tenant(factories.OTHER_TENANT_ID, "Fabrikam", synced=False)


@pytest.fixture
def global_admin_role(tenant):
    return factories.make_role(tenant, "Global Administrator")


@pytest.fixture
def app_admin_role(tenant):
    return factories.make_role(tenant, "Application Administrator")


@pytest.fixture
def reader_role(tenant):
    return factories.make_role(tenant, "Directory Readers", privileged=False)


@pytest.fixture
def mirror(db) -> factories.Mirror:
    """A small mirrored tenant with fixed ids, for the service tests."""
    return factories.Mirror()


@pytest.fixture
def make_campaign(mirror, admin):
    """A named-reviewer campaign in the mirror's tenant, by Ada, starting at NOW."""

    def make(reviewers=(), roles=(), **fields) -> Campaign:
        values = {
            "start_at": factories.NOW,
            "reviewer_mode": Campaign.ReviewerMode.NAMED,
            "justification": Campaign.Justification.NONE,
        }
        values.update(fields)
        return factories.make_campaign(
            mirror.tenant, admin, reviewers=reviewers, roles=roles, **values
        )

    return make


@pytest.fixture
def cycle(mirror, admin, rita, rob) -> Cycle:
    """The emails' running cycle (see `factories.make_email_cycle`)."""
    return factories.make_email_cycle(mirror, admin, rita, rob)


@pytest.fixture
def world(db) -> factories.World:
    """The review pages' running cycle (see `factories.make_world`)."""
    return factories.make_world()
