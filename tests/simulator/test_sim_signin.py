"""User sign-in against the simulator: the authorization-code flow, driven by unmodified msal.

The "browser" is requests: it opens msal's auth_uri, reads the picker page, submits the form
as one demo person, and hands the redirect's parameters back to msal.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import jwt
import msal
import pytest
import requests
from jwt.algorithms import RSAAlgorithm

from entrasim import SimTenant, Simulator, generate_tenant
from entrasim.tenant import APP_ROLE_ADMIN, APP_ROLE_AUDITOR

from .simgraph import NOW, Graph
from .test_sim_login import read_certificate_file

REDIRECT_URI = "http://127.0.0.1:8000/auth/callback"
# msal 1.39 recommends form_post whenever another response_mode is used; both are tested here.
pytestmark = pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended")


class _Form(HTMLParser):
    """The sign-in page's form: its action, hidden fields and the people's buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.people: list[str] = []
        self.focused: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = a.get("action", "")
        elif tag == "input" and a.get("type") == "hidden":
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "button" and a.get("name") == "user_id":
            self.people.append(a["value"])
            if "autofocus" in a:
                self.focused = a["value"]


def parse_form(html: str) -> _Form:
    form = _Form()
    form.feed(html)
    return form


def confidential_app(sim: Simulator, credential=None) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        sim.tenant.client_id,
        authority=f"{sim.authority_host}/{sim.tenant.tenant_id}",
        client_credential=credential or sim.tenant.client_secret,
        instance_discovery=False,
    )


def browse_and_pick(
    auth_uri: str, user_id: str, verify: str, session: requests.Session | None = None
) -> dict[str, str]:
    """GET the sign-in page, submit its form as user_id, return the redirect's parameters."""
    http = session or requests.Session()
    page = http.get(auth_uri, verify=verify, timeout=10, allow_redirects=False)
    assert page.status_code == 200, page.text
    assert page.headers["Content-Type"].startswith("text/html")
    form = parse_form(page.text)
    assert user_id in form.people
    answer = http.post(
        urljoin(auth_uri, form.action),
        data={**form.fields, "user_id": user_id},
        verify=verify,
        timeout=10,
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    return dict(parse_qsl(urlsplit(location).query))


def person(sim: Simulator, role: str | None):
    people = sim.tenant.demo_people()
    if role is None:
        return next(p for p in people if not p.roles)
    return next(p for p in people if role in p.roles)


@pytest.fixture
def trust(shared_sim, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(shared_sim.ca_path))
    return shared_sim


def discovery(sim: Simulator) -> dict:
    url = f"{sim.authority_host}/{sim.tenant.tenant_id}/v2.0/.well-known/openid-configuration"
    return requests.get(url, verify=str(sim.ca_path), timeout=10).json()


# ----- the whole flow with msal ------------------------------------------------------------------


@pytest.mark.parametrize("role", [APP_ROLE_ADMIN, APP_ROLE_AUDITOR, None])
def test_msal_signs_a_person_in_and_gets_their_app_roles(trust, role):
    sim = trust
    who = person(sim, role)
    app = confidential_app(sim)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI)

    auth_response = browse_and_pick(flow["auth_uri"], who.user_id, str(sim.ca_path))
    assert auth_response["state"] == flow["state"]
    result = app.acquire_token_by_auth_code_flow(flow, auth_response)

    assert "error" not in result, result
    claims = result["id_token_claims"]
    assert claims["oid"] == who.user_id
    assert claims["tid"] == sim.tenant.tenant_id
    assert claims["aud"] == sim.tenant.client_id
    assert claims["ver"] == "2.0"
    assert claims["preferred_username"] == who.upn
    assert claims["name"] == who.display_name
    assert claims["nonce"] == hashlib.sha256(flow["nonce"].encode()).hexdigest()
    if role is None:
        assert "roles" not in claims
    else:
        assert claims["roles"] == [role]
    assert result["refresh_token"]  # msal always asks for offline_access
    assert "User.Read" in result["scope"].split()
    # msal built the account from client_info: the user's oid in this tenant.
    (account,) = app.get_accounts()
    assert account["home_account_id"] == f"{who.user_id}.{sim.tenant.tenant_id}"


def test_the_id_token_is_signed_with_the_published_key_and_issuer(trust):
    sim = trust
    who = person(sim, APP_ROLE_ADMIN)
    app = confidential_app(sim)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI)
    result = app.acquire_token_by_auth_code_flow(
        flow, browse_and_pick(flow["auth_uri"], who.user_id, str(sim.ca_path))
    )

    config = discovery(sim)
    keys = requests.get(config["jwks_uri"], verify=str(sim.ca_path), timeout=10).json()["keys"]
    header = jwt.get_unverified_header(result["id_token"])
    (jwk,) = [k for k in keys if k["kid"] == header["kid"]]
    claims = jwt.decode(
        result["id_token"],
        RSAAlgorithm.from_jwk(jwk),
        algorithms=["RS256"],
        audience=sim.tenant.client_id,
        issuer=config["issuer"],
    )
    assert config["issuer"] == f"{sim.authority_host}/{sim.tenant.tenant_id}/v2.0"
    assert claims["sub"] and claims["sub"] != claims["oid"]  # pairwise, like Entra
    assert claims["iat"] <= claims["nbf"] + 1 and claims["exp"] > claims["iat"]
    user = sim.tenant.users[who.user_id]
    assert claims.get("email") == user.mail
    access = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert access["idtyp"] == "user" and access["oid"] == who.user_id
    assert "User.Read" in access["scp"].split()


def test_refresh_token_and_certificate_credentials_work_for_user_tokens(trust):
    sim = trust
    who = person(sim, None)
    key_pem, thumbprint = read_certificate_file(sim)
    app = confidential_app(sim, {"private_key": key_pem, "thumbprint": thumbprint})
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI)
    first = app.acquire_token_by_auth_code_flow(
        flow, browse_and_pick(flow["auth_uri"], who.user_id, str(sim.ca_path))
    )
    assert "access_token" in first, first

    (account,) = app.get_accounts()
    again = app.acquire_token_silent(["User.Read"], account=account, force_refresh=True)

    assert again and "access_token" in again, again
    assert again["access_token"] != first["access_token"]
    assert again["id_token_claims"]["oid"] == who.user_id


def test_form_post_answers_through_an_auto_submitting_form(trust):
    sim = trust
    who = person(sim, APP_ROLE_AUDITOR)
    app = confidential_app(sim)
    flow = app.initiate_auth_code_flow(
        ["User.Read"], redirect_uri=REDIRECT_URI, response_mode="form_post"
    )

    auth_response = sim.sign_in(flow["auth_uri"], who.user_id)
    result = app.acquire_token_by_auth_code_flow(flow, auth_response)

    assert result["id_token_claims"]["roles"] == [APP_ROLE_AUDITOR], result


def test_the_sign_in_helper_returns_the_redirect_parameters(trust):
    sim = trust
    app = confidential_app(sim)
    flow = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)

    auth_response = sim.sign_in(flow["auth_uri"], person(sim, APP_ROLE_ADMIN).upn)  # UPN works
    result = app.acquire_token_by_auth_code_flow(flow, auth_response)

    assert result["id_token_claims"]["roles"] == [APP_ROLE_ADMIN], result


# ----- what msal and the token endpoint refuse ---------------------------------------------------


def test_msal_detects_a_nonce_mismatch(trust):
    sim = trust
    app = confidential_app(sim)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI)
    url, _, query = flow["auth_uri"].partition("?")
    params = dict(parse_qsl(query))
    params["nonce"] = hashlib.sha256(b"someone else's nonce").hexdigest()
    tampered = f"{url}?{urlencode(params)}"

    auth_response = browse_and_pick(tampered, person(sim, None).user_id, str(sim.ca_path))
    with pytest.raises(RuntimeError, match="nonce"):
        app.acquire_token_by_auth_code_flow(flow, auth_response)


def test_a_code_is_single_use(trust):
    sim = trust
    app = confidential_app(sim)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI)
    auth_response = browse_and_pick(flow["auth_uri"], person(sim, None).user_id, str(sim.ca_path))
    assert "access_token" in app.acquire_token_by_auth_code_flow(dict(flow), auth_response)

    again = app.acquire_token_by_auth_code_flow(dict(flow), auth_response)

    assert again["error"] == "invalid_grant", again
    assert again["error_codes"] == [54005]
    assert again["error_description"].startswith("AADSTS54005")
    for field in ("trace_id", "correlation_id", "timestamp"):
        assert field in again


def test_a_wrong_code_verifier_is_refused(trust):
    sim = trust
    app = confidential_app(sim)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI)
    auth_response = browse_and_pick(flow["auth_uri"], person(sim, None).user_id, str(sim.ca_path))

    result = app.acquire_token_by_auth_code_flow(
        {**flow, "code_verifier": secrets.token_urlsafe(43)}, auth_response
    )

    assert result["error"] == "invalid_grant", result
    assert result["error_description"].startswith("AADSTS501481")


def test_an_expired_or_unknown_code_is_refused(tmp_path, monkeypatch):
    tenant = generate_tenant(privileged_assignments=5, seed=1, now=NOW)
    with Simulator(tenant, state_dir=tmp_path, code_lifetime=0) as sim:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim.ca_path))
        app = confidential_app(sim)
        flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI)
        auth_response = sim.sign_in(flow["auth_uri"], person(sim, None).user_id)

        expired = app.acquire_token_by_auth_code_flow(dict(flow), auth_response)
        unknown = app.acquire_token_by_auth_code_flow(
            dict(flow), {**auth_response, "code": "1.Anot-a-code"}
        )

    assert expired["error"] == "invalid_grant" and expired["error_codes"] == [70008], expired
    assert unknown["error"] == "invalid_grant", unknown


def test_the_code_exchange_needs_client_authentication_and_the_same_redirect_uri(graph):
    sim = graph.sim
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    base = {
        "client_id": sim.tenant.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile",
        "state": "s1",
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    auth_uri = f"{sim.authority_host}/{sim.tenant.tenant_id}/oauth2/v2.0/authorize"

    def new_code() -> str:
        return sim.sign_in(f"{auth_uri}?{urlencode(base)}", person(sim, None).user_id)["code"]

    redeem = {
        "grant_type": "authorization_code",
        "client_id": sim.tenant.client_id,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    code = new_code()
    no_secret = graph.token_request(**redeem, code=code)
    assert no_secret.status_code == 401
    assert no_secret.json()["error"] == "invalid_client"

    other_uri = graph.token_request(
        **{**redeem, "redirect_uri": "http://127.0.0.1:9/elsewhere"},
        code=code,
        client_secret=sim.tenant.client_secret,
    )
    assert other_uri.status_code == 400
    assert other_uri.json()["error"] == "invalid_grant"

    ok = graph.token_request(**redeem, code=code, client_secret=sim.tenant.client_secret)
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["token_type"] == "Bearer" and body["id_token"]
    assert "refresh_token" not in body  # offline_access was not asked for
    assert "nonce" not in jwt.decode(body["id_token"], options={"verify_signature": False})


def test_pkce_is_optional_for_a_confidential_client_but_plain_is_checked(graph):
    sim = graph.sim
    auth_uri = f"{sim.authority_host}/{sim.tenant.tenant_id}/oauth2/v2.0/authorize"
    base = {
        "client_id": sim.tenant.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid",
    }
    redeem = {
        "grant_type": "authorization_code",
        "client_id": sim.tenant.client_id,
        "client_secret": sim.tenant.client_secret,
        "redirect_uri": REDIRECT_URI,
    }
    who = person(sim, None).user_id

    without = sim.sign_in(f"{auth_uri}?{urlencode(base)}", who)
    assert graph.token_request(**redeem, code=without["code"]).status_code == 200

    plain = {**base, "code_challenge": "v" * 43, "code_challenge_method": "plain"}
    code = sim.sign_in(f"{auth_uri}?{urlencode(plain)}", who)["code"]
    wrong = graph.token_request(**redeem, code=code, code_verifier="w" * 43)
    assert wrong.json()["error_codes"] == [501481]
    assert graph.token_request(**redeem, code=code, code_verifier="v" * 43).status_code == 200

    odd = {**base, "code_challenge": "x" * 43, "code_challenge_method": "S512", "state": "z"}
    refused = sim.sign_in(f"{auth_uri}?{urlencode(odd)}", who)
    assert refused["error"] == "invalid_request" and refused["state"] == "z"


# ----- the authorize endpoint's own checks -------------------------------------------------------


def authorize_url(sim: Simulator, **params: str) -> str:
    base = {
        "client_id": sim.tenant.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile offline_access",
        "state": "st",
        "nonce": "n",
    }
    base.update(params)
    return f"{sim.authority_host}/{sim.tenant.tenant_id}/oauth2/v2.0/authorize?{urlencode(base)}"


def get(sim: Simulator, url: str, session: requests.Session | None = None) -> requests.Response:
    return (session or requests).get(
        url, verify=str(sim.ca_path), timeout=10, allow_redirects=False
    )


def test_a_bad_redirect_uri_is_shown_not_followed(shared_sim):
    sim = shared_sim
    for uri in ("https://evil.example/callback", "http://10.0.0.1:8000/cb", "ftp://127.0.0.1/x"):
        page = get(sim, authorize_url(sim, redirect_uri=uri))

        assert page.status_code == 400
        assert "Location" not in page.headers
        assert "AADSTS50011" in page.text
        assert page.headers["Content-Type"].startswith("text/html")

    unknown_client = get(sim, authorize_url(sim, client_id="11111111-2222-3333-4444-555555555555"))
    assert unknown_client.status_code == 400 and "AADSTS700016" in unknown_client.text
    assert "Location" not in unknown_client.headers

    for loopback in ("http://localhost:5000/cb", "https://127.0.0.1:8443/auth/callback"):
        assert get(sim, authorize_url(sim, redirect_uri=loopback)).status_code == 200


def test_registered_redirect_uris_are_enforced_exactly(fresh_sim):
    sim = fresh_sim
    sim.tenant.set_redirect_uris(["https://reviews.example.com/auth/callback"])

    loopback = get(sim, authorize_url(sim))
    assert loopback.status_code == 400 and "AADSTS50011" in loopback.text
    trailing = get(
        sim, authorize_url(sim, redirect_uri="https://reviews.example.com/auth/callback/")
    )
    assert trailing.status_code == 400
    exact = get(sim, authorize_url(sim, redirect_uri="https://reviews.example.com/auth/callback"))
    assert exact.status_code == 200


def test_errors_after_the_redirect_uri_go_back_to_the_app(shared_sim):
    sim = shared_sim
    cases = {
        "unsupported_response_type": {"response_type": "token"},
        "invalid_request": {"prompt": "sometimes"},
        "invalid_resource": {"scope": "openid https://management.azure.com/.default"},
    }
    for error, params in cases.items():
        answer = get(sim, authorize_url(sim, **params))

        assert answer.status_code == 302, (error, answer.text)
        location = answer.headers["Location"]
        assert location.startswith(REDIRECT_URI + "?")
        values = dict(parse_qsl(urlsplit(location).query))
        assert values["error"] == error
        assert values["error_description"].startswith("AADSTS")
        assert values["state"] == "st"


def test_prompt_none_without_a_session_is_login_required(shared_sim):
    answer = get(shared_sim, authorize_url(shared_sim, prompt="none"))

    values = dict(parse_qsl(urlsplit(answer.headers["Location"]).query))
    assert values["error"] == "login_required"
    assert values["error_description"].startswith("AADSTS50058")


def test_unknown_and_disabled_users_cannot_sign_in(fresh_sim):
    sim = fresh_sim
    disabled = person(sim, None)
    sim.tenant.users[disabled.user_id].account_enabled = False
    assert disabled.user_id not in [p.user_id for p in sim.tenant.demo_people()]

    with pytest.raises(RuntimeError, match="AADSTS50057"):
        sim.sign_in(authorize_url(sim), disabled.user_id)
    with pytest.raises(RuntimeError, match="AADSTS50034"):
        sim.sign_in(authorize_url(sim), "nobody@contoso.invalid")


def test_the_picker_escapes_hostile_names_and_request_values(fresh_sim):
    sim = fresh_sim
    hostile = {
        '<script>alert("x")</script>': "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;",
        '"><img src=x onerror=alert(1)>': "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;",
    }
    users = [p.user_id for p in sim.tenant.demo_people()][:2]
    for user_id, name in zip(users, hostile, strict=True):
        sim.tenant.rename_principal(user_id, name)

    page = get(sim, authorize_url(sim, state='"><script>alert(2)</script>'))

    assert page.status_code == 200
    assert f"Sign in to {sim.tenant.display_name} (simulated)" in page.text
    for raw, escaped in hostile.items():
        assert raw not in page.text
        assert escaped in page.text
    assert "<script>alert(2)" not in page.text
    assert page.headers["X-Frame-Options"] == "DENY"
    form = parse_form(page.text)
    assert form.fields["state"] == '"><script>alert(2)</script>'  # carried intact


def test_login_hint_preselects_the_person(shared_sim):
    sim = shared_sim
    auditor = person(sim, APP_ROLE_AUDITOR)

    form = parse_form(get(sim, authorize_url(sim, login_hint=auditor.upn)).text)

    assert form.focused == auditor.user_id
    assert form.people[0] == auditor.user_id


# ----- sessions and logout -----------------------------------------------------------------------


def test_sessions_give_single_sign_on_until_logout(trust):
    sim = trust
    verify = str(sim.ca_path)
    browser = requests.Session()
    who = person(sim, APP_ROLE_ADMIN)
    app = confidential_app(sim)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI)
    result = app.acquire_token_by_auth_code_flow(
        flow, browse_and_pick(flow["auth_uri"], who.user_id, verify, browser)
    )
    assert "id_token" in result, result

    silent = get(sim, authorize_url(sim, prompt="none"), browser)
    assert "code" in dict(parse_qsl(urlsplit(silent.headers["Location"]).query))
    picker_again = get(sim, authorize_url(sim, prompt="select_account"), browser)
    assert picker_again.status_code == 200

    logout_url = discovery(sim)["end_session_endpoint"]
    signed_out = browser.get(
        logout_url,
        params={
            "post_logout_redirect_uri": "http://127.0.0.1:8000/signed-out",
            "id_token_hint": result["id_token"],
        },
        verify=verify,
        timeout=10,
        allow_redirects=False,
    )
    assert signed_out.status_code == 302
    assert signed_out.headers["Location"] == "http://127.0.0.1:8000/signed-out"

    after = get(sim, authorize_url(sim, prompt="none"), browser)
    assert dict(parse_qsl(urlsplit(after.headers["Location"]).query))["error"] == "login_required"


def test_logout_without_an_allowed_redirect_shows_a_page(shared_sim):
    logout_url = discovery(shared_sim)["end_session_endpoint"]
    for params in ({}, {"post_logout_redirect_uri": "https://evil.example/"}):
        page = requests.get(
            logout_url,
            params=params,
            verify=str(shared_sim.ca_path),
            timeout=10,
            allow_redirects=False,
        )
        assert page.status_code == 200
        assert "You are signed out" in page.text


def test_sign_in_requests_are_in_the_request_log(fresh_sim, monkeypatch):
    sim = fresh_sim
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim.ca_path))
    sim.requests.clear()
    app = confidential_app(sim)
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=REDIRECT_URI)
    app.acquire_token_by_auth_code_flow(
        flow, browse_and_pick(flow["auth_uri"], person(sim, None).user_id, str(sim.ca_path))
    )
    get(sim, discovery(sim)["end_session_endpoint"])

    assert sim.requests.matching("/oauth2/v2.0/authorize", method="GET", status=200)
    assert sim.requests.matching("/oauth2/v2.0/authorize", method="POST", status=302)
    assert sim.requests.matching("/oauth2/v2.0/token", method="POST", status=200)
    assert sim.requests.matching("/oauth2/v2.0/logout", method="GET")


# ----- tenant data: people, roles, persistence ---------------------------------------------------


def test_the_generator_names_one_admin_and_one_auditor_who_own_nothing():
    tenant = generate_tenant(privileged_assignments=60, seed=5, now=NOW)
    again = generate_tenant(privileged_assignments=60, seed=5, now=NOW)

    assert tenant.app.user_roles == again.app.user_roles
    assert sorted(r for roles in tenant.app.user_roles.values() for r in roles) == [
        APP_ROLE_ADMIN,
        APP_ROLE_AUDITOR,
    ]
    owners = {o for sp in tenant.service_principals.values() for o in sp.owner_ids}
    assert not owners & set(tenant.app.user_roles)
    people = tenant.demo_people()
    assert people[0].roles == [APP_ROLE_ADMIN]
    assert people[1].roles == [APP_ROLE_AUDITOR]
    assert all(not p.roles for p in people[2:])
    other_seed = generate_tenant(privileged_assignments=60, seed=6, now=NOW)
    assert other_seed.app.user_roles != tenant.app.user_roles


def test_grant_app_role_and_the_control_route(fresh_sim):
    sim = fresh_sim
    plain = person(sim, None)
    sim.tenant.grant_app_role(plain.user_id, APP_ROLE_AUDITOR)
    sim.tenant.grant_app_role(plain.user_id, APP_ROLE_AUDITOR)  # idempotent
    assert sim.tenant.app_roles_of(plain.user_id) == [APP_ROLE_AUDITOR]
    with pytest.raises(ValueError):
        sim.tenant.grant_app_role(plain.user_id, "Owner")
    with pytest.raises(ValueError):
        sim.tenant.grant_app_role("no-such-user", APP_ROLE_ADMIN)

    control = Graph(sim)
    answer = control.session.post(
        f"{sim.graph_url}/_sim/tenant",
        json={"op": "grant_app_role", "args": {"user_id": plain.user_id, "role": "Admin"}},
        verify=control.verify,
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    people = control.session.get(
        f"{sim.graph_url}/_sim/people", verify=control.verify, timeout=10
    ).json()
    first = people[0]
    assert first["roles"][0] == APP_ROLE_ADMIN
    assert {p["user_id"] for p in people if APP_ROLE_ADMIN in p["roles"]} >= {plain.user_id}


def test_user_roles_and_redirect_uris_survive_a_restart(tmp_path):
    tenant = generate_tenant(privileged_assignments=10, seed=4, now=NOW)
    plain = next(p for p in tenant.demo_people() if not p.roles)
    with Simulator(tenant, state_dir=tmp_path) as first:
        first.tenant.grant_app_role(plain.user_id, APP_ROLE_ADMIN)
        first.tenant.set_redirect_uris(["https://reviews.example.com/auth/callback"])
        expected = dict(first.tenant.app.user_roles)

    second = Simulator.load(tmp_path)
    with second:
        assert second.tenant.app.user_roles == expected
        assert second.tenant.app_roles_of(plain.user_id) == [APP_ROLE_ADMIN]
        assert second.tenant.app.redirect_uris == ["https://reviews.example.com/auth/callback"]


def test_state_saved_before_app_roles_existed_still_loads():
    data = generate_tenant(privileged_assignments=5, seed=1, now=NOW).to_dict()
    del data["app"]["user_roles"]
    del data["app"]["redirect_uris"]

    tenant = SimTenant.from_json(data)

    assert tenant.app.user_roles == {}
    assert tenant.app.redirect_uris == []
    assert all(not p.roles for p in tenant.demo_people())


def test_only_oidc_scopes_still_give_a_graph_token_and_an_id_token(trust):
    sim = trust
    who = person(sim, APP_ROLE_ADMIN)
    app = confidential_app(sim)
    flow = app.initiate_auth_code_flow(["email"], redirect_uri=REDIRECT_URI)

    result = app.acquire_token_by_auth_code_flow(flow, sim.sign_in(flow["auth_uri"], who.user_id))

    assert result["id_token_claims"]["email"] == sim.tenant.users[who.user_id].mail, result
    assert {"openid", "profile", "email", "User.Read"} <= set(result["scope"].split())
