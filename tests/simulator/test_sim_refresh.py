"""The refresh_token grant as spreview's role re-check uses it: a refresh reads the person's app
roles as they are now, and a refresh for an account disabled since is refused as Entra does."""

from __future__ import annotations

import pytest

from entrasim.tenant import APP_ROLE_ADMIN, APP_ROLE_AUDITOR

from .test_sim_signin import REDIRECT_URI, browse_and_pick, confidential_app, person

pytestmark = pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended")


@pytest.fixture
def signed_in(fresh_sim, monkeypatch):
    """(simulator, msal app, the Admin who signed in, the refresh token from the code)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fresh_sim.ca_path))
    who = person(fresh_sim, APP_ROLE_ADMIN)
    app = confidential_app(fresh_sim)
    flow = app.initiate_auth_code_flow(["email"], redirect_uri=REDIRECT_URI)
    result = app.acquire_token_by_auth_code_flow(
        flow, browse_and_pick(flow["auth_uri"], who.user_id, str(fresh_sim.ca_path))
    )
    assert result["id_token_claims"]["roles"] == [APP_ROLE_ADMIN]
    return fresh_sim, app, who, result["refresh_token"]


def test_a_refresh_reads_the_app_roles_the_person_holds_now(signed_in):
    sim, app, who, refresh_token = signed_in
    sim.tenant.revoke_app_role(who.user_id, APP_ROLE_ADMIN)
    sim.tenant.grant_app_role(who.user_id, APP_ROLE_AUDITOR)

    again = app.acquire_token_by_refresh_token(refresh_token, ["email"])

    assert "error" not in again, again
    assert again["id_token_claims"]["oid"] == who.user_id
    assert again["id_token_claims"]["roles"] == [APP_ROLE_AUDITOR]
    assert "nonce" not in again["id_token_claims"]  # only the code's ID token carries it
    assert again["refresh_token"] and again["refresh_token"] != refresh_token

    sim.tenant.revoke_app_role(who.user_id, APP_ROLE_AUDITOR)
    last = app.acquire_token_by_refresh_token(again["refresh_token"], ["email"])
    assert "roles" not in last["id_token_claims"]


def test_a_refresh_for_a_disabled_account_is_refused_with_aadsts50057(signed_in):
    sim, app, who, refresh_token = signed_in
    sim.tenant.users[who.user_id].account_enabled = False

    refused = app.acquire_token_by_refresh_token(refresh_token, ["email"])

    assert refused["error"] == "invalid_grant"
    assert refused["error_description"].startswith("AADSTS50057:")
    assert "access_token" not in refused and "refresh_token" not in refused


def test_an_unknown_refresh_token_is_refused(signed_in):
    _, app, _, refresh_token = signed_in
    refused = app.acquire_token_by_refresh_token(refresh_token + "x", ["email"])
    assert refused["error"] == "invalid_grant"
