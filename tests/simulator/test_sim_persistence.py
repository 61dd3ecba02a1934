"""State survives restarts: tenant.json, the CA and the keys are reused by Simulator.load."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import requests

from entrasim import SimTenant, Simulator, generate_tenant

from .simgraph import NOW, Graph

ROOT = Path(__file__).resolve().parents[2]


def test_json_round_trip_is_lossless():
    tenant = generate_tenant(privileged_assignments=40, seed=12, now=NOW)

    copy = SimTenant.from_json(tenant.to_json())

    assert copy.to_dict() == tenant.to_dict()
    assert copy.expected_privileged_sp_assignments() == tenant.expected_privileged_sp_assignments()


def test_a_loaded_simulator_keeps_removals_renames_keys_and_trust(tmp_path):
    tenant = generate_tenant(privileged_assignments=15, seed=3, now=NOW)
    with Simulator(tenant, state_dir=tmp_path) as first:
        graph = Graph(first)
        direct = next(ra for ra in tenant.role_assignments if ra.schedule_id is None)
        assert (
            graph.delete(f"/v1.0/roleManagement/directory/roleAssignments/{direct.id}").status_code
            == 204
        )
        renamed = next(iter(tenant.service_principals))
        tenant.rename_principal(renamed, "Renamed before restart")
        expected = tenant.expected_privileged_sp_assignments()
        ca = first.ca_path.read_bytes()
        token = graph.token

    second = Simulator.load(tmp_path, page_size=3)
    with second:
        assert second.tenant.expected_privileged_sp_assignments() == expected
        assert direct.id not in second.tenant.role_assignments
        assert second.tenant.service_principals[renamed].display_name == "Renamed before restart"
        assert second.ca_path.read_bytes() == ca
        again = Graph(second, token=token)  # same signing key: the old token is still good
        page = again.get("/v1.0/servicePrincipals")
        assert page.status_code == 200
        assert len(page.json()["value"]) == 3
        assert Graph(second).token  # and the same secret signs in


def test_the_management_command_prints_settings_serves_and_saves_on_sigterm(tmp_path):
    state = tmp_path / "state"
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "simulator",
            "--state-dir",
            str(state),
            "--port",
            "0",
            "--assignments",
            "12",
            "--seed",
            "3",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        env: dict[str, str] = {}
        while "AZURE_CLIENT_SECRET" not in env:
            line = process.stdout.readline()
            assert line, process.stderr.read()
            key, _, value = line.strip().partition("=")
            env[key] = value
        assert {"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_AUTHORITY_HOST", "GRAPH_URL"} <= set(
            env
        )
        discovery = requests.get(
            f"{env['AZURE_AUTHORITY_HOST']}/{env['AZURE_TENANT_ID']}"
            "/v2.0/.well-known/openid-configuration",
            verify=env["REQUESTS_CA_BUNDLE"],
            timeout=10,
        )
        assert discovery.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    saved = SimTenant.load(state / "tenant.json")
    assert saved.tenant_id == env["AZURE_TENANT_ID"]
    assert len(saved.expected_privileged_sp_assignments()) == 12
