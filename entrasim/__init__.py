"""A small, faithful local Entra ID: login authority and Microsoft Graph over HTTPS.

Used by tests, benchmarks and the demo instead of the real cloud (see DESIGN.md, "The
simulator"). Plain Python: importing it needs no Django settings.

    tenant = generate_tenant(privileged_assignments=200, seed=7)
    with Simulator(tenant, state_dir=path) as sim:
        os.environ.update(sim.env())
"""

from .generate import generate_tenant
from .server import Simulator
from .tenant import SimTenant

__all__ = ["SimTenant", "Simulator", "generate_tenant"]
