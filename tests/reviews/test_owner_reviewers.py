"""Owners as reviewers, end to end: owners as the sync stores them become the reviewers."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import EntraAccount
from identities import sync
from identities.models import ServicePrincipal, Tenant
from reviews import services
from reviews.models import Campaign, ItemReviewer

pytestmark = pytest.mark.django_db


def test_user_owners_from_the_sync_review_their_principals(graph_settings, sim):
    # One privileged principal owned only through its app registration (common in real tenants).
    held = sim.tenant.principal_ids_with_privileged_roles()
    app = next(
        a
        for a in sim.tenant.applications.values()
        if (sp := sim.tenant.service_principal_by_app_id(a.app_id)) and sp.id in held
    )
    app.owner_ids = [next(iter(sim.tenant.users))]
    sim.tenant.service_principal_by_app_id(app.app_id).owner_ids = []
    assert sync.sync_configured_tenant(trigger="test").status == "succeeded"
    fallback = get_user_model().objects.create_user("fallback", email="fallback@contoso.example")
    campaign = services.create_campaign(
        Campaign(
            tenant=Tenant.objects.get(),
            name="Owners review",
            start_at=timezone.now(),
            reviewer_mode=Campaign.ReviewerMode.OWNERS,
        ),
        roles=[],
        reviewers=[fallback],
        actor=None,
    )

    cycle = services.start_cycle(campaign.pk)

    links = ItemReviewer.objects.filter(item__cycle=cycle).select_related(
        "item__principal__application"
    )
    through_registration_only = 0
    for link in links:
        principal = link.item.principal
        own = {o["id"] for o in principal.owners if o.get("type") == "user"}
        registration = principal.application.owners if principal.application else []
        of_registration = {o["id"] for o in registration if o.get("type") == "user"}
        if own | of_registration:
            assert link.source == "owner"
            assert EntraAccount.objects.get(user_id=link.user_id).object_id in own | of_registration
            through_registration_only += not own
        else:
            assert (link.source, link.user_id) == ("fallback", fallback.pk)
    sources = {link.source for link in links}
    assert sources == {"owner", "fallback"}
    # The generated tenant has principals owned only through their app registration.
    assert through_registration_only > 0
    owned = ServicePrincipal.objects.exclude(owner_count=0).count()
    assert owned > 0
