"""People signing in through Entra ID: msal's authorization-code flow, and who the token names.

The app registration that the sync uses (AZURE_CLIENT_ID and its secret, certificate or federated
credential) also signs people in, so there is one registration to manage. msal creates and checks
the state, the PKCE verifier and the nonce; the flow it returns lives in the session until the
callback. What msal leaves to the app is checked here: the ID token must be for this client, from
this authority and from AZURE_TENANT_ID, and still valid. The token came straight from the token
endpoint over TLS, which OpenID Connect accepts in place of checking its signature.

A person is found by (tenant, `oid`), never by name or email, and their app roles (`Admin`,
`Auditor`) are applied at every sign-in.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import msal
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse

from identities.graph.auth import MICROSOFT_AUTHORITY_HOSTS, GraphSettings, client_credential
from identities.graph.errors import GraphAuthError, GraphConfigError
from identities.graph.values import object_id, text
from identities.models import Tenant

from .models import EntraAccount
from .people import users_for_entra
from .permissions import apply_app_roles
from .signals import roles_changed

log = logging.getLogger(__name__)

# The code comes back in the query (response_mode=query), on purpose: form_post is a cross-site
# POST, which does not carry the SameSite=Lax session cookie that holds the flow. What RFC 9700
# 4.3.1 guards against (a code leaking from the address) is covered here: the code is useless
# without the PKCE verifier and the client credential, is redeemed once, and the callback
# answers with a redirect under Referrer-Policy same-origin.
warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended")

# msal adds the reserved scopes (openid, profile) itself and refuses them as input. No Graph
# scope: signing in needs nothing but the ID token.
SCOPES = ["email"]
# Session keys: the pending flows by state, and how the current session was signed in.
FLOWS_KEY = "entra_sign_in_flows"
SIGNED_IN_WITH_KEY = "signed_in_with"
SIGNED_IN_WITH_ENTRA = "entra"
# A few tabs may sign in at once; a flow not finished within this time is dropped.
MAX_PENDING_FLOWS = 5
FLOW_LIFETIME_SECONDS = 15 * 60
CLOCK_SKEW_SECONDS = 300
# A role re-check waits this long for the authority: it holds up the person's request.
RECONFIRM_TIMEOUT_SECONDS = 10.0
# OAuth errors that say "not now" rather than "no": the session may wait for the authority.
_TEMPORARY_ERRORS = frozenset({"temporarily_unavailable", "server_error"})

# Shared by every request's msal client: discovery documents are fetched once a day, not per
# sign-in. It holds no tokens (msal keeps those in the client's own token cache).
_HTTP_CACHE: dict[Any, Any] = {}

# What a person can do about the errors Entra ID reports in the callback.
_AADSTS_HINTS = {
    "AADSTS50105": "Your account has not been given access to spreview. Ask an administrator "
    "to assign you to the spreview application in Entra ID.",
    "AADSTS65004": "You declined the permissions spreview asks for. Sign in again and accept "
    "them, or ask an administrator to grant consent for the organisation.",
    "AADSTS50020": "This account belongs to another organisation. Sign in with your account in "
    "the organisation that runs spreview.",
    "AADSTS700016": "spreview's app registration was not found in the tenant. An administrator "
    "should check AZURE_CLIENT_ID and AZURE_TENANT_ID.",
    "AADSTS50011": "The reply address of this spreview is not registered on the app. An "
    "administrator should add SITE_URL's sign-in callback as a redirect URI in Entra ID.",
    "AADSTS7000215": "spreview's client secret is wrong or expired. An administrator should "
    "renew AZURE_CLIENT_SECRET.",
    "AADSTS50057": "Your account is disabled in Entra ID. Ask an administrator to enable it.",
}


class SignInError(Exception):
    """A sign-in that cannot go on, with what the person (or an administrator) can do."""

    def __init__(self, title: str, hint: str, *, detail: str = "", status: int = 400) -> None:
        super().__init__(f"{title}: {detail or hint}")
        self.title = title
        self.hint = hint
        self.detail = detail
        self.status = status


@dataclass(frozen=True)
class EntraIdentity:
    """Who the ID token says signed in."""

    tenant_id: str
    object_id: str
    user_principal_name: str
    mail: str
    display_name: str
    roles: frozenset[str]


# ----- configuration ----------------------------------------------------------------------------


def is_configured() -> bool:
    """True when sign-in with Microsoft can be offered (a tenant and an app are set)."""
    return bool(settings.AZURE_TENANT_ID.strip() and settings.AZURE_CLIENT_ID.strip())


def redirect_uri() -> str:
    """The callback address registered on the app: SITE_URL + the callback path."""
    return settings.SITE_URL.rstrip("/") + reverse("signin_callback")


def end_session_url(config: GraphSettings | None = None) -> str:
    """Entra's sign-out page for this tenant, which then sends the browser to our signed-out
    page (that address must be registered on the app as the front-channel logout URL)."""
    config = config or GraphSettings.from_django()
    query = urlencode(
        {"post_logout_redirect_uri": settings.SITE_URL.rstrip("/") + reverse("signed_out")}
    )
    return f"{config.authority_host}/{config.tenant_id}/oauth2/v2.0/logout?{query}"


def _unavailable(detail: str) -> SignInError:
    return SignInError(
        "Sign-in with Microsoft is not available",
        "Try again in a few minutes. If it keeps failing, an administrator should check the "
        "Entra ID settings; the local administrator account still signs in with a password.",
        detail=detail,
        status=503,
    )


def application(
    config: GraphSettings | None = None, *, timeout: float | None = None
) -> msal.ConfidentialClientApplication:
    """A fresh msal client for one request, so that no person's tokens outlive it (the one
    refresh token spreview keeps lives encrypted in the session: see session_guard.py)."""
    config = config or GraphSettings.from_django()
    try:
        config.validate()
        credential = client_credential(config)
    except (GraphConfigError, GraphAuthError) as exc:
        raise _unavailable(str(exc)) from exc
    host = urlsplit(config.authority_host).hostname or ""
    try:
        return msal.ConfidentialClientApplication(
            config.client_id,
            authority=f"{config.authority_host}/{config.tenant_id}",
            client_credential=credential,
            instance_discovery=host in MICROSOFT_AUTHORITY_HOSTS,
            # msal asks for offline_access: the refresh token lets the session re-read the
            # person's app roles from Entra ID while they work (session_guard.py).
            http_cache=_HTTP_CACHE,
            timeout=timeout,
        )
    except requests.RequestException as exc:
        raise _unavailable(
            f"AZURE_AUTHORITY_HOST {config.authority_host} is unreachable ({type(exc).__name__})."
        ) from exc
    except ValueError as exc:
        raise _unavailable(
            f"AZURE_AUTHORITY_HOST {config.authority_host} with AZURE_TENANT_ID "
            f"{config.tenant_id} is not a usable authority: {exc}"
        ) from exc


# ----- the two legs of the flow -------------------------------------------------------------------


def begin(request: HttpRequest, next_url: str) -> str:
    """Start a sign-in: keep msal's flow (state, PKCE verifier, nonce) in the session and return
    the address at the authority to send the browser to."""
    flow = application().initiate_auth_code_flow(SCOPES, redirect_uri=redirect_uri())
    now = time.time()
    flows = {
        state: pending
        for state, pending in request.session.get(FLOWS_KEY, {}).items()
        if now - pending.get("started", 0) < FLOW_LIFETIME_SECONDS
    }
    flows[flow["state"]] = {"flow": flow, "next": next_url, "started": now}
    # Keep the newest few only: an abandoned tab must not grow the session forever.
    newest = sorted(flows.items(), key=lambda kv: kv[1]["started"])[-MAX_PENDING_FLOWS:]
    request.session[FLOWS_KEY] = dict(newest)
    return flow["auth_uri"]


def complete(request: HttpRequest) -> tuple[EntraIdentity, str, str]:
    """Finish the sign-in the callback's query answers: (who signed in, where to go next, the
    refresh token to re-check their roles with; "" if Entra ID gave none).

    The flow is taken out of the session first, so a callback can be used once only.
    """
    state = request.GET.get("state", "")
    flows = request.session.get(FLOWS_KEY, {})
    pending = flows.pop(state, None) if state else None
    request.session[FLOWS_KEY] = flows
    if pending is None or time.time() - pending.get("started", 0) >= FLOW_LIFETIME_SECONDS:
        raise SignInError(
            "This sign-in has expired or was already used",
            "Start again from the sign-in page. If you switched browsers or opened an old "
            "link, sign in from the browser you are using now.",
        )
    app = application()
    try:
        result = app.acquire_token_by_auth_code_flow(pending["flow"], request.GET.dict())
    except ValueError as exc:
        # msal's answer to a state that does not match the flow, or a malformed response.
        raise SignInError(
            "This sign-in answer does not match the sign-in you started",
            "Start again from the sign-in page.",
            detail=str(exc).split(":", 1)[0],
        ) from exc
    except RuntimeError as exc:
        # msal: the ID token's nonce is not this flow's (a replayed or injected token).
        raise SignInError(
            "The sign-in could not be verified",
            "Start again from the sign-in page.",
            detail="The ID token does not belong to this sign-in.",
        ) from exc
    except requests.RequestException as exc:
        raise _unavailable(f"The token endpoint did not answer ({type(exc).__name__}).") from exc
    if "error" in result:
        raise _callback_error(result)
    identity = _identity_in(result, app)
    return identity, pending.get("next", ""), str(result.get("refresh_token") or "")


def reconfirm(refresh_token: str, object_id: str) -> tuple[EntraIdentity, str]:
    """Ask Entra ID again who holds this refresh token and which app roles they have now:
    (the person as a fresh ID token names them, the refresh token to keep next).

    Raises SignInError: status 503 when the authority cannot answer now (the caller decides how
    long to wait), any other status when Entra ID refuses (account disabled, access or consent
    revoked, token expired) or the token names someone else.
    """
    app = application(timeout=RECONFIRM_TIMEOUT_SECONDS)
    try:
        result = app.acquire_token_by_refresh_token(refresh_token, SCOPES)
    except (requests.RequestException, ValueError) as exc:
        # msal raises for a 5xx or an answer that is not JSON.
        raise _unavailable(f"The token endpoint did not answer ({type(exc).__name__}).") from exc
    if "error" in result:
        refused = _callback_error(result)
        if str(result.get("error")) in _TEMPORARY_ERRORS:
            raise _unavailable(refused.detail)
        refused.status = 401
        raise refused
    identity = _identity_in(result, app)
    if identity.object_id.lower() != object_id.lower():
        raise SignInError(
            "The sign-in could not be verified",
            "Sign in again.",
            detail="Entra ID renewed the sign-in of another user.",
            status=403,
        )
    return identity, str(result.get("refresh_token") or refresh_token)


def _identity_in(result: dict[str, Any], app: msal.ConfidentialClientApplication) -> EntraIdentity:
    config = GraphSettings.from_django()
    return identity_from_claims(
        result.get("id_token_claims") or {},
        client_id=config.client_id,
        tenant_ids={config.tenant_id.lower(), str(app.authority.tenant).lower()},
        authority_host=config.authority_host,
    )


def _callback_error(result: dict[str, Any]) -> SignInError:
    error = str(result.get("error", ""))
    description = str(result.get("error_description", ""))
    first_line = description.splitlines()[0] if description else error
    code = first_line.split(":", 1)[0].strip() if first_line.startswith("AADSTS") else ""
    if error == "access_denied" and code in ("", "AADSTS65004"):
        return SignInError(
            "You cancelled the sign-in",
            "Nothing was changed. Sign in again when you are ready.",
            detail=first_line,
        )
    hint = _AADSTS_HINTS.get(code, "Start again from the sign-in page. If it keeps failing, "
                             "show this message to an administrator.")  # fmt: skip
    return SignInError("Entra ID refused the sign-in", hint, detail=first_line)


def identity_from_claims(
    claims: dict[str, Any], *, client_id: str, tenant_ids: set[str], authority_host: str
) -> EntraIdentity:
    """Check what msal does not (audience, tenant, issuer, lifetime) and read the person."""
    refused = "Start again from the sign-in page. If it keeps failing, tell an administrator."
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if client_id not in audiences:
        raise SignInError(
            "The sign-in could not be verified",
            refused,
            detail="The ID token was issued to another application.",
        )
    tid = object_id(claims.get("tid"))
    if not tid or tid.lower() not in tenant_ids:
        raise SignInError(
            "This account belongs to another organisation",
            "Sign in with your account in the organisation that runs spreview.",
            detail=f"The ID token is from tenant {text(claims.get('tid'), 64) or '(none)'}.",
            status=403,
        )
    if claims.get("iss") != f"{authority_host}/{tid}/v2.0":
        raise SignInError(
            "The sign-in could not be verified",
            refused,
            detail="The ID token comes from another issuer than AZURE_AUTHORITY_HOST.",
        )
    now = time.time()
    try:
        expires = float(claims["exp"])
    except (KeyError, TypeError, ValueError):
        expires = 0.0
    if expires + CLOCK_SKEW_SECONDS < now:
        raise SignInError(
            "The sign-in has expired",
            "Start again from the sign-in page. If it keeps happening, check this server's clock.",
        )
    oid = object_id(claims.get("oid"))
    if not oid:
        raise SignInError(
            "The sign-in could not be verified",
            refused,
            detail="The ID token names no user (no oid claim).",
        )
    roles = claims.get("roles")
    return EntraIdentity(
        tenant_id=tid,
        object_id=oid,
        user_principal_name=text(claims.get("preferred_username") or claims.get("upn"), 256),
        mail=text(claims.get("email"), 256),
        display_name=text(claims.get("name"), 256),
        roles=frozenset(r for r in roles if isinstance(r, str))
        if isinstance(roles, list)
        else frozenset(),
    )


# ----- the person --------------------------------------------------------------------------------


def user_for_identity(identity: EntraIdentity) -> Any:
    """The Django user for this Entra user, created at the first sign-in, with names refreshed
    from the token and permissions set from its app roles. Refuses a deactivated user."""
    with transaction.atomic():
        tenant, _ = Tenant.objects.get_or_create(tenant_id=settings.AZURE_TENANT_ID.strip())
        users_for_entra(
            tenant,
            [
                {
                    "id": identity.object_id,
                    "displayName": identity.display_name,
                    "userPrincipalName": identity.user_principal_name,
                    "mail": identity.mail,
                }
            ],
        )
        account = (
            EntraAccount.objects.select_for_update()
            .select_related("user")
            .get(tenant=tenant, object_id=identity.object_id)
        )
        user = get_user_model().objects.select_for_update().get(pk=account.user_id)
        if not user.is_active:
            raise SignInError(
                "Your spreview account is deactivated",
                "Ask an administrator to reactivate it.",
                status=403,
            )
        _refresh(account, user, identity)
        changes = apply_app_roles(user, identity.roles)
        if changes:
            roles_changed.send(sender=user_for_identity, user=user, changes=changes)
    if changes:
        log.info("sign-in of %s changed app roles: %s", identity.object_id, ", ".join(changes))
    return user


def _refresh(account: EntraAccount, user: Any, identity: EntraIdentity) -> None:
    """Names and mail as the token gives them now; a claim the token lacks keeps its value
    (the `email` claim is optional in Entra ID)."""
    fields = {
        "user_principal_name": identity.user_principal_name,
        "mail": identity.mail,
        "display_name": identity.display_name,
    }
    changed = [name for name, value in fields.items() if value and getattr(account, name) != value]
    for name in changed:
        setattr(account, name, fields[name])
    if changed:
        account.save(update_fields=changed)
    email = account.mail or account.user_principal_name
    name = account.display_name[:150]
    user_changed = []
    if email and user.email != email:
        user.email = email
        user_changed.append("email")
    if name and user.first_name != name:
        user.first_name = name
        user_changed.append("first_name")
    if user_changed:
        user.save(update_fields=user_changed)
