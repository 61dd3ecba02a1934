"""Personas and a configured tenant for the page tests."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from accounts.permissions import AUDITOR_GROUP

from .factories import make_role, make_tenant

TENANT_ID = "11111111-1111-1111-1111-111111111111"
OTHER_TENANT_ID = "22222222-2222-2222-2222-222222222222"


@pytest.fixture(autouse=True)
def _page_settings(settings):
    settings.AZURE_TENANT_ID = TENANT_ID
    settings.INACTIVE_DAYS = 90
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def tenant(db):
    tenant = make_tenant(TENANT_ID, "Contoso")
    tenant.last_synced_at = timezone.now()
    tenant.save(update_fields=["last_synced_at"])
    return tenant


@pytest.fixture
def other_tenant(db):
    return make_tenant(OTHER_TENANT_ID, "Fabrikam")


@pytest.fixture
def global_admin_role(tenant):
    return make_role(tenant, "Global Administrator")


@pytest.fixture
def app_admin_role(tenant):
    return make_role(tenant, "Application Administrator")


@pytest.fixture
def reader_role(tenant):
    return make_role(tenant, "Directory Readers", privileged=False)


@pytest.fixture
def alice(db):
    """Admin persona (staff)."""
    return get_user_model().objects.create_user("alice-admin", password="pw", is_staff=True)


@pytest.fixture
def bob(db):
    """Auditor persona: signed in, reads everything, changes nothing."""
    user = get_user_model().objects.create_user("bob-auditor", password="pw")
    group, _ = Group.objects.get_or_create(name=AUDITOR_GROUP)
    user.groups.add(group)
    return user


@pytest.fixture
def as_admin(alice):
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def as_auditor(bob):
    client = Client()
    client.force_login(bob)
    return client


@pytest.fixture
def anonymous(db):
    return Client()


@pytest.fixture
def queued_syncs(monkeypatch):
    """Records sync_tenant.delay calls instead of sending them to a broker."""
    calls: list[dict] = []

    def record(*args, **kwargs):
        calls.append(kwargs)

    monkeypatch.setattr("identities.tasks.sync_tenant.delay", record)
    return calls
