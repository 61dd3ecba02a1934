"""A reviewer arriving from the email while signed out lands on their queue after one sign-in
through Entra ID (the simulator's authority, msal for real); someone else signing in is refused."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from accounts.people import users_for_entra
from identities.models import Assignment, RoleDefinition, ServicePrincipal, Tenant
from reviews import links, services
from reviews.models import Campaign
from tests.accounts.test_signin import local, pick_user_at_authority

pytestmark = pytest.mark.django_db


@pytest.fixture
def invited(graph_settings, settings, sim):
    """A cycle in which one plain user of the simulated tenant reviews one assignment."""
    settings.SITE_URL = "http://127.0.0.1:8000"
    people = [p for p in sim.tenant.demo_people() if not p.roles]
    reviewer, stranger = people[0], people[1]
    tenant = Tenant.objects.create(tenant_id=sim.tenant.tenant_id)
    ids = users_for_entra(
        tenant,
        [
            {"id": reviewer.user_id, "displayName": "", "userPrincipalName": "", "mail": ""},
        ],
    )
    user = get_user_model().objects.get(pk=ids[reviewer.user_id])
    role = RoleDefinition.objects.create(
        tenant=tenant, object_id="role-ga", display_name="Global Administrator", is_privileged=True
    )
    principal = ServicePrincipal.objects.create(
        tenant=tenant, object_id="sp-1", display_name="Nightly <b>export</b> job"
    )
    Assignment.objects.create(
        tenant=tenant, principal=principal, role=role, kind="active", granted_via="direct"
    )
    now = timezone.now()
    campaign = services.create_campaign(
        Campaign(tenant=tenant, name="Privileged SPs", start_at=now, reviewer_mode="named"),
        roles=[],
        reviewers=[user],
        actor=None,
    )
    cycle = services.start_cycle(campaign.pk, now=now)
    path = urlsplit(links.make_link(user, cycle)).path
    return {"path": path, "cycle": cycle, "reviewer": reviewer, "stranger": stranger}


def sign_in_from_login_page(client: Client, sim, login_url: str, person) -> str:
    """Click "Sign in with Microsoft" on the login page, pick the person; where we land."""
    page = client.get(login_url)
    href = re.search(r'href="([^"]*/accounts/signin/[^"]*)"', page.content.decode()).group(1)
    authority = client.get(href.replace("&amp;", "&"))
    assert authority.status_code == 302
    callback = pick_user_at_authority(sim, authority["Location"], person.user_id)
    landed = client.get(local(callback))
    assert landed.status_code == 302, landed.content[:300]
    return landed["Location"]


def test_a_signed_out_reviewer_lands_on_their_queue_after_one_sign_in(invited, sim, client):
    opened = client.get(invited["path"])
    assert opened.status_code == 302
    login_url = opened["Location"]

    back_at = sign_in_from_login_page(client, sim, login_url, invited["reviewer"])

    assert back_at == invited["path"]
    queue = client.get(back_at)
    assert queue.status_code == 302
    assert queue["Location"].startswith(f"/reviews/cycles/{invited['cycle'].pk}/queue/")
    page = client.get(queue["Location"])
    assert page.status_code == 200
    assert "Nightly &lt;b&gt;export&lt;/b&gt; job" in page.content.decode()


def test_someone_else_signing_in_through_the_link_is_refused(invited, sim, client):
    login_url = client.get(invited["path"])["Location"]

    back_at = sign_in_from_login_page(client, sim, login_url, invited["stranger"])

    refused = client.get(back_at)
    assert refused.status_code == 403
    assert "Nightly" not in refused.content.decode()
