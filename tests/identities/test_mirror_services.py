"""The mirror's own writes that other apps ask for: `mark_removed` is how a review's removal
reaches the Assignment table."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from identities import services
from identities.models import Assignment
from tests.factories import make_assignment, make_principal, make_role, make_tenant

pytestmark = pytest.mark.django_db


def test_it_marks_assignments_removed_once_and_keeps_the_first_time():
    tenant = make_tenant("tenant-mark-removed", synced=False)
    role = make_role(tenant, "Global Administrator")
    first, second, other = (make_assignment(make_principal(tenant), role) for _ in range(3))
    then = timezone.now() - timedelta(hours=1)

    assert services.mark_removed([first.pk], when=then) == 1
    assert services.mark_removed([first.pk, second.pk], when=timezone.now()) == 1

    removed = dict(Assignment.objects.values_list("pk", "removed_at"))
    assert removed[first.pk] == then
    assert removed[second.pk] is not None and removed[second.pk] > then
    assert removed[other.pk] is None
