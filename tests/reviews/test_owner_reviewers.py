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

    links = ItemReviewer.objects.filter(item__cycle=cycle).select_related("item__principal")
    for link in links:
        user_owner_ids = {o["id"] for o in link.item.principal.owners if o.get("type") == "user"}
        if user_owner_ids:
            assert link.source == "owner"
            assert EntraAccount.objects.get(user_id=link.user_id).object_id in user_owner_ids
        else:
            assert (link.source, link.user_id) == ("fallback", fallback.pk)
    sources = {link.source for link in links}
    assert sources == {"owner", "fallback"}
    owned = ServicePrincipal.objects.exclude(owner_count=0).count()
    assert owned > 0
