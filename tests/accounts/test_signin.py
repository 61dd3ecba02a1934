"""Sign-in with Entra ID: the whole round trip through the simulator's authority with msal, the
checks on the ID token, people found by oid, app roles applied at every sign-in, refusals that
sign nobody in and write nothing, the break-glass password, and sign-out."""

from __future__ import annotations

import time
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts import signin
from accounts.auth_views import safe_next
from accounts.models import EntraAccount
from accounts.people import users_for_entra
from accounts.permissions import AUDITOR_GROUP, is_admin, is_auditor
from identities.models import Tenant

TENANT_ID = "11111111-1111-1111-1111-111111111111"
CLIENT_ID = "22222222-2222-2222-2222-222222222222"
AUTHORITY = "https://login.example.test"


# ----- helpers: a browser at the simulator's sign-in page -----------------------------------------


class _Form(HTMLParser):
    """The picker's form: its action and hidden fields."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.people: list[str] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "form" and not self.action:
            self.action = values.get("action") or ""
        elif tag == "input" and values.get("type") == "hidden":
            self.fields[values.get("name") or ""] = values.get("value") or ""
        elif tag == "button" and values.get("name") == "user_id":
            self.people.append(values.get("value") or "")


def pick_user_at_authority(sim, auth_uri: str, user_id: str) -> str:
    """Open the authority's page as a browser would, choose the person; the callback address
    the authority sends the browser back to."""
    with requests.Session() as browser:  # a fresh browser: no single sign-on from earlier
        page = browser.get(auth_uri, verify=str(sim.ca_path), allow_redirects=False, timeout=10)
        assert page.status_code == 200, page.text[:500]
        form = _Form()
        form.feed(page.text)
        assert user_id in form.people
        action = urljoin(auth_uri, form.action or auth_uri)
        answer = browser.post(
            action,
            data={**form.fields, "user_id": user_id},
            verify=str(sim.ca_path),
            allow_redirects=False,
            timeout=10,
        )
    assert answer.status_code in (302, 303), answer.text[:500]
    return answer.headers["Location"]


def local(url: str) -> str:
    """The path and query of an absolute callback address, for the Django test client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def start(client: Client, next_url: str = "") -> str:
    query = f"?{urlencode({'next': next_url})}" if next_url else ""
    response = client.get(reverse("signin") + query)
    assert response.status_code == 302, response.content[:500]
    return response["Location"]


def sign_in(client: Client, sim, user_id: str, next_url: str = ""):
    auth_uri = start(client, next_url)
    return client.get(local(pick_user_at_authority(sim, auth_uri, user_id)))


def person_with(sim, role: str | None):
    for person in sim.tenant.demo_people():
        if (role in person.roles) if role else not person.roles:
            return person
    raise AssertionError(f"the generated tenant has nobody with role {role}")


def signed_in_user(client: Client):
    user_id = client.session.get("_auth_user_id")
    return get_user_model().objects.get(pk=user_id) if user_id else None


def written() -> tuple[int, int, int, int]:
    return (
        get_user_model().objects.count(),
        EntraAccount.objects.count(),
        Tenant.objects.count(),
        Group.objects.filter(name=AUDITOR_GROUP).values("user").count(),
    )


@pytest.fixture
def entra(graph_settings, settings, db):
    settings.SITE_URL = "http://127.0.0.1:8000"
    return graph_settings


# ----- the round trip through the simulator ------------------------------------------------------


def test_signing_in_starts_at_the_authority_with_pkce_state_and_nonce(entra, sim, client):
    auth_uri = start(client)
    parts = urlsplit(auth_uri)
    assert f"{parts.scheme}://{parts.netloc}" == sim.authority_host
    assert parts.path == f"/{sim.tenant.tenant_id}/oauth2/v2.0/authorize"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["client_id"] == sim.tenant.client_id
    assert query["redirect_uri"] == "http://127.0.0.1:8000" + reverse("signin_callback")
    assert query["response_type"] == "code"
    assert query["code_challenge_method"] == "S256"
    assert query["state"] and query["nonce"] and query["code_challenge"]
    # offline_access: the refresh token lets the session re-check app roles (session_guard.py).
    assert set(query["scope"].split()) == {"openid", "profile", "email", "offline_access"}
    assert "_auth_user_id" not in client.session


def test_an_admin_signs_in_and_reaches_the_admin_pages(entra, sim, client):
    admin = person_with(sim, "Admin")
    response = sign_in(client, sim, admin.user_id)
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    user = signed_in_user(client)
    assert user.username == admin.user_id
    account = EntraAccount.objects.get(user=user)
    assert (account.tenant.tenant_id, account.object_id) == (sim.tenant.tenant_id, admin.user_id)
    assert account.user_principal_name == admin.upn
    assert account.display_name == admin.display_name
    assert is_admin(user)
    assert client.get(reverse("reviews:campaigns")).status_code == 200
    assert client.get(reverse("identities:inventory")).status_code == 200
    assert client.get(reverse("reviews:campaign_new")).status_code == 200


def test_a_user_without_app_roles_is_a_reviewer_without_inventory_access(entra, sim, client):
    person = person_with(sim, None)
    assert sign_in(client, sim, person.user_id).status_code == 302
    user = signed_in_user(client)
    assert not is_admin(user) and not is_auditor(user)
    assert client.get(reverse("identities:inventory")).status_code == 403
    assert client.get(reverse("reviews:campaigns")).status_code == 403
    assert client.get(reverse("reviews:my_reviews")).status_code == 200


def test_an_auditor_reads_but_may_not_change(entra, sim, client):
    person = person_with(sim, "Auditor")
    sign_in(client, sim, person.user_id)
    user = signed_in_user(client)
    assert is_auditor(user) and not is_admin(user)
    assert client.get(reverse("identities:inventory")).status_code == 200
    assert client.get(reverse("reviews:campaign_new")).status_code == 403


def test_a_second_sign_in_finds_the_same_user_by_oid(entra, sim):
    person = person_with(sim, "Admin")
    sign_in(Client(), sim, person.user_id)
    first = EntraAccount.objects.get(object_id=person.user_id).user_id
    client = Client()
    sign_in(client, sim, person.user_id)
    assert signed_in_user(client).pk == first
    assert EntraAccount.objects.filter(object_id=person.user_id).count() == 1
    assert get_user_model().objects.filter(username=person.user_id).count() == 1


def test_an_owner_known_from_the_sync_signs_in_to_their_existing_account(entra, sim, client):
    person = person_with(sim, None)
    tenant = Tenant.objects.create(tenant_id=sim.tenant.tenant_id)
    ids = users_for_entra(
        tenant,
        [{"id": person.user_id, "displayName": "Old name", "userPrincipalName": "", "mail": ""}],
    )
    sign_in(client, sim, person.user_id)
    user = signed_in_user(client)
    assert user.pk == ids[person.user_id]
    assert EntraAccount.objects.get(user=user).display_name == person.display_name


def test_a_role_removed_in_entra_is_removed_at_the_next_sign_in(entra, sim):
    person = person_with(sim, None)
    sim.tenant.grant_app_role(person.user_id, "Admin")
    sim.tenant.grant_app_role(person.user_id, "Auditor")
    client = Client()
    sign_in(client, sim, person.user_id)
    user = signed_in_user(client)
    assert is_admin(user) and is_auditor(user)

    sim.tenant.revoke_app_role(person.user_id, "Admin")
    client = Client()
    sign_in(client, sim, person.user_id)
    user = signed_in_user(client)
    assert not is_admin(user) and is_auditor(user)
    assert client.get(reverse("reviews:campaign_new")).status_code == 403

    sim.tenant.revoke_app_role(person.user_id, "Auditor")
    client = Client()
    sign_in(client, sim, person.user_id)
    user = signed_in_user(client)
    assert not is_admin(user) and not is_auditor(user)
    assert client.get(reverse("identities:inventory")).status_code == 403

    from reviews.models import AuditEvent

    logged = AuditEvent.objects.filter(action="identities.roles.changed").order_by("pk")
    assert [e.new["changes"] for e in logged] == [["+Admin", "+Auditor"], ["-Admin"], ["-Auditor"]]
    assert {e.object_id for e in logged} == {person.user_id}


def test_next_is_kept_through_the_round_trip(entra, sim, client):
    person = person_with(sim, None)
    response = sign_in(client, sim, person.user_id, next_url="/reviews/?from=mail")
    assert response["Location"] == "/reviews/?from=mail"


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/", "//evil.example/", "javascript:alert(1)", "reviews/"]
)
def test_next_pointing_elsewhere_is_dropped(entra, sim, client, next_url):
    person = person_with(sim, None)
    response = sign_in(client, sim, person.user_id, next_url=next_url)
    assert response["Location"] == reverse("home")


def test_a_replayed_callback_is_refused_and_signs_nobody_in(entra, sim):
    client = Client()
    callback = local(pick_user_at_authority(sim, start(client), person_with(sim, "Admin").user_id))
    assert client.get(callback).status_code == 302
    client.post(reverse("logout"))
    before = written()
    response = client.get(callback)
    assert response.status_code == 400
    assert b"expired or was already used" in response.content
    assert "_auth_user_id" not in client.session
    assert written() == before


def test_a_callback_in_another_browser_is_refused(entra, sim):
    started = Client()
    callback = local(pick_user_at_authority(sim, start(started), person_with(sim, None).user_id))
    other = Client()
    before = written()
    assert other.get(callback).status_code == 400
    assert "_auth_user_id" not in other.session
    assert written() == before


def test_a_state_that_does_not_match_is_refused(entra, sim, client):
    callback = local(pick_user_at_authority(sim, start(client), person_with(sim, None).user_id))
    tampered = callback.replace("state=", "state=x")
    before = written()
    response = client.get(tampered)
    assert response.status_code == 400
    assert b"Start again" in response.content
    assert "_auth_user_id" not in client.session
    assert written() == before


def test_a_tampered_code_is_refused_by_the_authority(entra, sim, client):
    callback = local(pick_user_at_authority(sim, start(client), person_with(sim, None).user_id))
    tampered = callback.replace("code=", "code=x")
    before = written()
    response = client.get(tampered)
    assert response.status_code == 400
    assert b"Entra ID refused the sign-in" in response.content
    assert "_auth_user_id" not in client.session
    assert written() == before


def test_a_cancelled_sign_in_explains_what_to_do(entra, sim, client):
    state = parse_qs(urlsplit(start(client)).query)["state"][0]
    before = written()
    response = client.get(
        reverse("signin_callback"),
        {
            "error": "access_denied",
            "error_description": "AADSTS65004: User declined to consent to access the app.",
            "state": state,
        },
    )
    assert response.status_code == 400
    assert b"You cancelled the sign-in" in response.content
    assert b"Sign in again" in response.content
    assert "_auth_user_id" not in client.session
    assert written() == before


def test_an_aadsts_error_names_the_fix(entra, sim, client):
    state = parse_qs(urlsplit(start(client)).query)["state"][0]
    response = client.get(
        reverse("signin_callback"),
        {
            "error": "invalid_request",
            "error_description": "AADSTS50105: The signed in user is not assigned to a role.",
            "state": state,
        },
    )
    assert response.status_code == 400
    assert b"Ask an administrator to assign you" in response.content
    assert b"AADSTS50105" in response.content


def test_a_callback_without_a_sign_in_in_progress_is_refused(db, client):
    response = client.get(reverse("signin_callback"), {"code": "abc", "state": "def"})
    assert response.status_code == 400
    assert "_auth_user_id" not in client.session


def test_a_deactivated_user_is_refused(entra, sim, client):
    person = person_with(sim, "Admin")
    sign_in(Client(), sim, person.user_id)
    get_user_model().objects.filter(username=person.user_id).update(is_active=False)
    response = sign_in(client, sim, person.user_id)
    assert response.status_code == 403
    assert b"deactivated" in response.content
    assert "_auth_user_id" not in client.session


def test_an_unreachable_authority_explains_itself(entra, settings, client):
    settings.AZURE_AUTHORITY_HOST = "https://127.0.0.1:9"
    response = client.get(reverse("signin"))
    assert response.status_code == 503
    assert b"not available" in response.content
    assert b"local administrator account" in response.content


def test_sign_in_is_not_offered_when_entra_is_not_configured(db, settings, client):
    settings.AZURE_CLIENT_ID = ""
    assert b"Sign in with Microsoft" not in client.get(reverse("login")).content
    assert client.get(reverse("signin")).status_code == 503


# ----- the ID token's claims ----------------------------------------------------------------------


def claims(**changes):
    values = {
        "aud": CLIENT_ID,
        "iss": f"{AUTHORITY}/{TENANT_ID}/v2.0",
        "tid": TENANT_ID,
        "oid": "33333333-3333-3333-3333-333333333333",
        "exp": time.time() + 3600,
        "preferred_username": "ada@contoso.example",
        "email": "ada.lovelace@contoso.example",
        "name": "Ada Lovelace",
        "roles": ["Admin", 7],
    }
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def identity(values):
    return signin.identity_from_claims(
        values, client_id=CLIENT_ID, tenant_ids={TENANT_ID}, authority_host=AUTHORITY
    )


def test_claims_name_the_person_and_their_roles():
    found = identity(claims())
    assert found.object_id == "33333333-3333-3333-3333-333333333333"
    assert found.tenant_id == TENANT_ID
    assert found.user_principal_name == "ada@contoso.example"
    assert found.mail == "ada.lovelace@contoso.example"
    assert found.display_name == "Ada Lovelace"
    assert found.roles == frozenset({"Admin"})


def test_a_token_from_another_tenant_is_refused():
    other = "99999999-9999-9999-9999-999999999999"
    with pytest.raises(signin.SignInError) as refused:
        identity(claims(tid=other, iss=f"{AUTHORITY}/{other}/v2.0"))
    assert refused.value.status == 403
    assert "another organisation" in refused.value.title


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "someone-else"},
        {"iss": f"https://elsewhere.example/{TENANT_ID}/v2.0"},
        {"exp": time.time() - 3600},
        {"oid": None},
        {"tid": None},
    ],
    ids=["audience", "issuer", "expired", "no-oid", "no-tid"],
)
def test_a_token_that_does_not_check_out_is_refused(changes):
    with pytest.raises(signin.SignInError):
        identity(claims(**changes))


def test_a_token_without_roles_gives_none():
    assert identity(claims(roles=None)).roles == frozenset()
    assert identity(claims(roles="Admin")).roles == frozenset()


def test_signing_in_refreshes_names_but_keeps_mail_the_token_does_not_give(db, settings):
    settings.AZURE_TENANT_ID = TENANT_ID
    user = signin.user_for_identity(identity(claims()))
    assert user.email == "ada.lovelace@contoso.example"
    again = signin.user_for_identity(identity(claims(email=None, name="Ada King")))
    assert again.pk == user.pk
    account = EntraAccount.objects.get(user=user)
    assert account.mail == "ada.lovelace@contoso.example"
    assert account.display_name == "Ada King"
    again.refresh_from_db()
    assert again.first_name == "Ada King"


# ----- next -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("/reviews/", "/reviews/"),
        ("/reviews/cycles/1/queue/?show=all", "/reviews/cycles/1/queue/?show=all"),
        ("https://evil.example/", ""),
        ("http://testserver/reviews/", ""),
        ("//evil.example/x", ""),
        ("/\\evil.example", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_only_paths_on_this_site_are_kept_as_next(value, kept):
    request = RequestFactory().get("/")
    assert safe_next(request, value) == kept


# ----- the login page and the break-glass password ------------------------------------------------


def test_login_page_offers_microsoft_first_and_keeps_the_password_form(db, settings, client):
    settings.AZURE_TENANT_ID = TENANT_ID
    settings.AZURE_CLIENT_ID = CLIENT_ID
    response = client.get(reverse("login") + "?next=/reviews/")
    content = response.content.decode()
    assert "Sign in with Microsoft" in content
    assert reverse("signin") + "?next=/reviews/" in content
    assert 'name="password"' in content
    assert content.index("Sign in with Microsoft") < content.index('name="password"')


def test_break_glass_superuser_signs_in_with_a_password(db, settings, client):
    settings.AZURE_AUTHORITY_HOST = "https://127.0.0.1:9"  # Entra ID is down
    user = get_user_model().objects.create_superuser("breakglass", "bg@example.com", "s3cret-pw")
    response = client.post(
        reverse("login"), {"username": "breakglass", "password": "s3cret-pw", "next": "/sync/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/sync/"
    assert signed_in_user(client) == user
    assert client.get(reverse("identities:sync")).status_code == 200


def test_a_wrong_password_signs_nobody_in(db, client):
    get_user_model().objects.create_superuser("breakglass", "bg@example.com", "s3cret-pw")
    response = client.post(reverse("login"), {"username": "breakglass", "password": "nope"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


# ----- sign-out -----------------------------------------------------------------------------------


def test_sign_out_is_post_only(db, client):
    user = get_user_model().objects.create_user("someone")
    client.force_login(user)
    assert client.get(reverse("logout")).status_code == 405
    assert signed_in_user(client) == user


def test_signing_out_of_an_entra_session_ends_it_at_entra_too(entra, sim, client):
    sign_in(client, sim, person_with(sim, None).user_id)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}" == sim.authority_host
    assert location.path == f"/{sim.tenant.tenant_id}/oauth2/v2.0/logout"
    query = parse_qs(location.query)
    assert query["post_logout_redirect_uri"] == ["http://127.0.0.1:8000" + reverse("signed_out")]
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("reviews:my_reviews")).status_code == 302
    # The simulator's sign-out page sends the browser back to us.
    answer = requests.get(
        response["Location"], verify=str(sim.ca_path), allow_redirects=False, timeout=10
    )
    assert answer.status_code in (200, 302, 303)


def test_signing_out_of_a_password_session_goes_to_the_signed_out_page(db, client):
    user = get_user_model().objects.create_superuser("breakglass", "bg@example.com", "pw")
    client.force_login(user)
    response = client.post(reverse("logout"))
    assert response["Location"] == reverse("signed_out")
    assert "_auth_user_id" not in client.session
    assert b"You are signed out" in client.get(reverse("signed_out")).content
