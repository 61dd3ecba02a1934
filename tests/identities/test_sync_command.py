"""`manage.py sync_tenant` run as an operator would: one clear line and an exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from identities.models import SyncRun

# Each test starts manage.py in its own process.
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run_command(sim, tmp_path):
    db = connection.settings_dict

    def run(**overrides: str) -> subprocess.CompletedProcess:
        env = {
            **os.environ,
            **sim.env(),
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
            if db["ENGINE"].endswith("postgresql")
            else f"sqlite:///{db['NAME']}",
            "SPREVIEW_VAR_DIR": str(tmp_path / "var"),
            "GRAPH_MAX_BACKOFF_SECONDS": "0.2",
            "GRAPH_MAX_ATTEMPTS": "2",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            **overrides,
        }
        return subprocess.run(
            [sys.executable, "manage.py", "sync_tenant"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


def _one_clear_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_a_configured_tenant_syncs_and_says_how_it_went(run_command):
    result = run_command()

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Synced ")
    assert SyncRun.objects.get().status == SyncRun.Status.SUCCEEDED


def test_a_missing_tenant_id_stops_with_one_line_naming_it(run_command):
    line = _one_clear_line(run_command(AZURE_TENANT_ID=""))

    assert "AZURE_TENANT_ID" in line


def test_an_unreadable_certificate_stops_with_one_line_naming_it(run_command, tmp_path):
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n")

    line = _one_clear_line(
        run_command(AZURE_CLIENT_SECRET="", AZURE_CLIENT_CERTIFICATE_PATH=str(broken))
    )

    assert "AZURE_CLIENT_CERTIFICATE_PATH" in line


def test_a_missing_certificate_file_stops_with_one_line_naming_it(run_command, tmp_path):
    line = _one_clear_line(
        run_command(
            AZURE_CLIENT_SECRET="", AZURE_CLIENT_CERTIFICATE_PATH=str(tmp_path / "absent.pem")
        )
    )

    assert "AZURE_CLIENT_CERTIFICATE_PATH" in line


def test_an_unreachable_authority_stops_with_one_line_naming_it(run_command):
    line = _one_clear_line(run_command(AZURE_AUTHORITY_HOST="https://127.0.0.1:9"))

    assert "AZURE_AUTHORITY_HOST" in line


def test_a_wrong_secret_stops_with_one_line_naming_it_and_no_secret(run_command):
    line = _one_clear_line(run_command(AZURE_CLIENT_SECRET="not-the-secret-at-all"))

    assert "AZURE_CLIENT_SECRET" in line
    assert "not-the-secret-at-all" not in line
