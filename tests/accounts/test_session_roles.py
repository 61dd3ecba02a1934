"""Sessions that follow Entra ID: people sign in through the simulator for real, their app roles
change there, and the next request after ROLE_RECHECK_SECONDS sees it; idle and absolute limits
end every session, break-glass included. Time is injected (session_guard.clock), never slept."""

from __future__ import annotations

import logging
import time

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import reverse

from accounts import session_guard
from accounts.permissions import is_admin, is_auditor
from identities.models import Tenant
from reviews.models import AuditEvent, Campaign
from tests.accounts.test_signin import person_with, sign_in, signed_in_user
from tests.factories import make_campaign


class Clock:
    """session_guard's time, moved on by the test."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(session_guard, "clock", fake)
    return fake


@pytest.fixture
def entra(graph_settings, settings, db):
    settings.SITE_URL = "http://127.0.0.1:8000"
    settings.SESSION_MAX_AGE = 8 * 3600
    settings.SESSION_IDLE_TIMEOUT = 3600
    settings.ROLE_RECHECK_SECONDS = 300
    return graph_settings


def token_requests(sim) -> int:
    return sum(1 for r in sim.requests if r.path.endswith("/oauth2/v2.0/token"))


def signed_in_admin(sim, client: Client):
    """A person made Admin in the simulator, signed in through it; their campaign."""
    person = person_with(sim, None)
    sim.tenant.grant_app_role(person.user_id, "Admin")
    assert sign_in(client, sim, person.user_id).status_code == 302
    user = signed_in_user(client)
    assert is_admin(user)
    tenant = Tenant.objects.get(tenant_id=sim.tenant.tenant_id)
    return person, make_campaign(tenant, user)


def campaign_writes(campaign: Campaign) -> tuple[str, int]:
    campaign.refresh_from_db()
    return campaign.status, AuditEvent.objects.filter(action__startswith="reviews.").count()


def pause(client: Client, campaign: Campaign, **headers):
    return client.post(reverse("reviews:campaign_pause", args=[campaign.pk]), **headers)


def assert_signed_out_to_login(response, client: Client) -> None:
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert "_auth_user_id" not in client.session


# ----- roles follow Entra ID ----------------------------------------------------------------------


def test_it_refuses_the_next_admin_post_once_the_admin_role_is_revoked_in_entra(
    entra, sim, clock, client
):
    person, campaign = signed_in_admin(sim, client)
    sim.tenant.revoke_app_role(person.user_id, "Admin")

    # Within the interval the role confirmed at sign-in holds, and Entra ID is not asked.
    asked = token_requests(sim)
    clock.advance(299)
    assert client.get(reverse("reviews:campaign_new")).status_code == 200
    assert token_requests(sim) == asked

    clock.advance(2)
    before = campaign_writes(campaign)
    response = pause(client, campaign)
    assert response.status_code == 403
    assert campaign_writes(campaign) == before
    assert token_requests(sim) == asked + 1
    user = signed_in_user(client)  # still signed in: a reviewer now, not an admin
    assert user is not None and not is_admin(user)
    assert client.get(reverse("reviews:my_reviews")).status_code == 200
    changed = AuditEvent.objects.filter(action="identities.roles.changed").order_by("pk").last()
    assert changed.new["changes"] == ["-Admin"]


def test_it_shows_an_auditor_role_granted_in_entra_after_the_interval(entra, sim, clock, client):
    person = person_with(sim, None)
    sign_in(client, sim, person.user_id)
    assert client.get(reverse("identities:inventory")).status_code == 403

    sim.tenant.grant_app_role(person.user_id, "Auditor")
    clock.advance(100)
    assert client.get(reverse("identities:inventory")).status_code == 403
    clock.advance(201)
    assert client.get(reverse("identities:inventory")).status_code == 200
    assert is_auditor(signed_in_user(client))
    assert client.get(reverse("reviews:campaign_new")).status_code == 403


def test_it_signs_out_a_person_whose_account_is_disabled_in_entra(entra, sim, clock, client):
    person, campaign = signed_in_admin(sim, client)
    sim.tenant.users[person.user_id].account_enabled = False
    clock.advance(301)

    before = campaign_writes(campaign)
    response = pause(client, campaign)
    assert_signed_out_to_login(response, client)
    assert campaign_writes(campaign) == before
    page = client.get(response["Location"])
    assert b"Your account is disabled in Entra ID" in page.content
    assert client.get(reverse("reviews:campaign_new")).status_code == 302


def test_a_session_without_a_refresh_token_is_signed_out_at_the_first_recheck(
    entra, sim, clock, client
):
    signed_in_admin(sim, client)
    session = client.session
    del session[session_guard.REFRESH_TOKEN_KEY]  # as a session from before this change
    session.save()
    assert client.get(reverse("reviews:campaign_new")).status_code == 200
    clock.advance(301)
    assert_signed_out_to_login(client.get(reverse("reviews:campaign_new")), client)


def test_an_htmx_request_of_an_ended_session_sends_the_page_to_sign_in(entra, sim, clock, client):
    person, campaign = signed_in_admin(sim, client)
    sim.tenant.users[person.user_id].account_enabled = False
    clock.advance(301)
    before = campaign_writes(campaign)
    response = pause(client, campaign, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("login")
    assert campaign_writes(campaign) == before


# ----- Entra ID not answering ---------------------------------------------------------------------


def test_while_entra_does_not_answer_reads_go_on_admin_writes_are_refused_then_it_ends(
    entra, sim, clock, client
):
    _, campaign = signed_in_admin(sim, client)
    sim.stop()
    clock.advance(301)

    assert client.get(reverse("reviews:campaigns")).status_code == 200
    before = campaign_writes(campaign)
    refused = pause(client, campaign)
    assert refused.status_code == 503
    assert refused["Retry-After"] == str(session_guard.OUTAGE_RETRY_SECONDS)
    assert b"Nothing was changed" in refused.content
    assert campaign_writes(campaign) == before
    assert signed_in_user(client) is not None

    clock.advance(session_guard.OUTAGE_GRACE_SECONDS)
    assert_signed_out_to_login(client.get(reverse("reviews:campaigns")), client)


# ----- lifetime and idle timeout ------------------------------------------------------------------


def test_an_entra_session_ends_after_an_hour_without_activity(entra, sim, clock, client):
    sign_in(client, sim, person_with(sim, None).user_id)
    clock.advance(3599)
    assert client.get(reverse("reviews:my_reviews")).status_code == 200
    clock.advance(3599)
    assert client.get(reverse("reviews:my_reviews")).status_code == 200
    clock.advance(3601)
    response = client.get(reverse("reviews:my_reviews"))
    assert_signed_out_to_login(response, client)
    assert response["Location"] == f"{reverse('login')}?next={reverse('reviews:my_reviews')}"
    assert b"after 1 hour without activity" in client.get(response["Location"]).content


@pytest.fixture
def break_glass(db, settings):
    settings.AZURE_AUTHORITY_HOST = "https://127.0.0.1:9"  # Entra ID is down
    settings.SESSION_MAX_AGE = 8 * 3600
    settings.SESSION_IDLE_TIMEOUT = 3600
    settings.ROLE_RECHECK_SECONDS = 0  # would re-check every request, if it were Entra's
    get_user_model().objects.create_superuser("breakglass", "bg@example.com", "s3cret-pw")
    client = Client()
    answer = client.post(reverse("login"), {"username": "breakglass", "password": "s3cret-pw"})
    assert answer.status_code == 302
    return client


def test_break_glass_works_without_entra_until_its_absolute_lifetime(break_glass, clock):
    tenant = Tenant.objects.create(tenant_id="11111111-1111-1111-1111-111111111111")
    campaign = make_campaign(tenant, signed_in_user(break_glass))
    for _ in range(9):  # active every 50 minutes: never idle
        clock.advance(50 * 60)
        assert break_glass.get(reverse("identities:sync")).status_code == 200
    assert pause(break_glass, campaign).status_code == 302
    assert campaign_writes(campaign)[0] == Campaign.Status.PAUSED

    clock.advance(31 * 60)  # 8 h 1 min after signing in
    response = break_glass.get(reverse("identities:sync"))
    assert_signed_out_to_login(response, break_glass)
    assert b"Sessions last 8 hours" in break_glass.get(response["Location"]).content


def test_break_glass_ends_after_an_hour_without_activity(break_glass, clock):
    clock.advance(3601)
    assert_signed_out_to_login(break_glass.get(reverse("identities:sync")), break_glass)


def test_signing_in_again_starts_a_new_lifetime(entra, sim, clock, client):
    person = person_with(sim, None)
    sign_in(client, sim, person.user_id)
    assert client.get(reverse("reviews:my_reviews")).status_code == 200
    for _ in range(9):  # 7 h 30 of activity
        clock.advance(50 * 60)
        assert client.get(reverse("reviews:my_reviews")).status_code == 200
    # The same person again, in the same browser: Django keeps the session's data.
    assert sign_in(client, sim, person.user_id).status_code == 302
    clock.advance(50 * 60)  # 8 h 20 after the first sign-in, 50 minutes after this one
    assert client.get(reverse("reviews:my_reviews")).status_code == 200


# ----- the refresh token stays a secret ---------------------------------------------------------


def test_the_refresh_token_never_appears_in_a_page_a_log_line_or_the_stored_session(
    entra, sim, clock, settings, caplog
):
    # Everything at DEBUG, msal's and urllib3's request logging included.
    for name in (None, "msal", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)
    settings.ROLE_RECHECK_SECONDS = 0  # every request renews the sign-in
    client = Client()
    person = person_with(sim, None)
    sim.tenant.grant_app_role(person.user_id, "Admin")
    pages = [sign_in(client, sim, person.user_id)]
    tokens = set()
    for step, name in enumerate(
        ("home", "reviews:campaigns", "identities:inventory", "reviews:my_reviews")
    ):
        # The Auditor role comes and goes: the re-checks change roles, and log that.
        if step % 2:
            sim.tenant.revoke_app_role(person.user_id, "Auditor")
        else:
            sim.tenant.grant_app_role(person.user_id, "Auditor")
        clock.advance(1)
        pages.append(client.get(reverse(name), follow=True))
        tokens.add(session_guard._decrypt(client.session[session_guard.REFRESH_TOKEN_KEY]))
    pages.append(client.post(reverse("logout")))

    tokens.discard("")
    assert len(tokens) == 4  # renewed on each request, each one kept only encrypted
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "changed app roles: +Auditor" in logged and "changed app roles: -Auditor" in logged
    stored = "\n".join(Session.objects.values_list("session_data", flat=True))
    for token in tokens:
        assert token not in logged
        assert token not in stored
        for page in pages:
            assert token.encode() not in page.content
            assert token not in str(page.headers)


def test_settings_refuse_limits_that_would_never_end_a_session(monkeypatch):
    import importlib

    import config.settings as project_settings

    monkeypatch.setenv("SESSION_IDLE_TIMEOUT", "0")
    with pytest.raises(ImproperlyConfigured, match="SESSION_IDLE_TIMEOUT must be positive"):
        importlib.reload(project_settings)
    monkeypatch.delenv("SESSION_IDLE_TIMEOUT")
    importlib.reload(project_settings)
