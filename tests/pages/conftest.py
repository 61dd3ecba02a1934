"""The page tests' settings (the configured tenant is factories.TENANT_ID) and a recorder for
queued syncs; the personas and tenants are tests/conftest.py's."""

from __future__ import annotations

import pytest

from tests.factories import TENANT_ID


@pytest.fixture(autouse=True)
def _page_settings(settings):
    settings.AZURE_TENANT_ID = TENANT_ID
    settings.INACTIVE_DAYS = 90


@pytest.fixture
def queued_syncs(monkeypatch):
    """Records sync_tenant.delay calls instead of sending them to a broker."""
    calls: list[dict] = []

    def record(*args, **kwargs):
        calls.append(kwargs)

    monkeypatch.setattr("identities.tasks.sync_tenant.delay", record)
    return calls
