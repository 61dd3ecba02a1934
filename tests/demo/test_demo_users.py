"""The demo's sign-ins get the roles the README promises, and never exist in production."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from accounts.permissions import can_read_all, is_admin

pytestmark = pytest.mark.django_db


def test_the_demo_admin_administers_and_the_auditor_only_reads(settings):
    settings.DEBUG = True

    call_command("ensure_demo_users")
    call_command("ensure_demo_users")  # idempotent

    users = get_user_model().objects
    admin, auditor = users.get(username="admin"), users.get(username="auditor")
    assert is_admin(admin) and can_read_all(admin)
    assert not is_admin(auditor) and can_read_all(auditor)
    assert auditor.check_password("spreview-demo")


def test_no_demo_users_without_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError):
        call_command("ensure_demo_users")
    assert not get_user_model().objects.exists()
