"""User sign-in: the OpenID Connect authorization-code flow of Entra's v2.0 endpoint.

`authorize` validates the request as Entra does (errors about the client or the reply URL are
shown on a page, later ones are sent to the reply URL), shows a page to pick a demo person
instead of asking for a password, and answers with a single-use code. The token endpoint
(auth.py) redeems it here with PKCE, and issues an id_token signed with the key published at
discovery/v2.0/keys. Sessions are remembered in a cookie, so prompt=none and silent SSO work
until `logout` forgets them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import jwt

from . import pages
from .authcore import (
    GRAPH_APP_ID,
    GRAPH_RESOURCE,
    HTML_CONTENT_TYPE,
    AuthResponse,
    LoginError,
)
from .ca import KeyMaterial, b64url
from .tenant import SimTenant, User

OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
RESPONSE_MODES = ("query", "fragment", "form_post")
PROMPTS = ("none", "login", "select_account", "consent", "create")
SESSION_COOKIE = "spreview_sim_session"
DEFAULT_GRAPH_SCOPE = "User.Read"


class RedirectError(LoginError):
    """An error found after the reply URL was validated: it goes back to the app."""

    def __init__(self, request: AuthorizeRequest, error: str, code: int, message: str) -> None:
        super().__init__(302, error, code, message)
        self.request = request


@dataclass
class AuthorizeRequest:
    tenant_segment: str
    client_id: str
    redirect_uri: str
    response_mode: str = "query"
    state: str | None = None
    scopes: list[str] = field(default_factory=list)
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    prompt: str | None = None
    login_hint: str | None = None
    client_info: bool = False
    max_age: bool = False


@dataclass
class UserGrant:
    """What a code or a refresh token stands for."""

    client_id: str
    user_id: str
    scopes: list[str]
    session_id: str
    auth_time: int
    redirect_uri: str = ""
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    nonce: str | None = None
    max_age: bool = False
    expires_at: float = 0.0
    redeemed: bool = False


def _pkce_s256(verifier: str) -> str:
    return b64url(hashlib.sha256(verifier.encode("ascii", "replace")).digest())


def is_loopback_uri(uri: str) -> bool:
    """http://127.0.0.1:*, http://localhost:* or https://127.0.0.1:* (any port, any path)."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return False
    if parts.fragment or not parts.hostname:
        return False
    return (parts.scheme, parts.hostname) in (
        ("http", "127.0.0.1"),
        ("http", "localhost"),
        ("https", "127.0.0.1"),
    )


def redirect_uri_allowed(registered: list[str], uri: str) -> bool:
    """Entra's reply-URL rule: an exact match; a registered http loopback URI without a port
    matches any port. With nothing registered the simulator accepts any loopback URI."""
    if not registered:
        return is_loopback_uri(uri)
    if uri in registered:
        return True
    try:
        asked = urlsplit(uri)
        asked.port  # noqa: B018
    except ValueError:
        return False
    for candidate in registered:
        parts = urlsplit(candidate)
        if (
            parts.scheme == "http"
            and parts.hostname in ("127.0.0.1", "localhost", "::1")
            and parts.port is None
            and asked.scheme == "http"
            and asked.hostname == parts.hostname
            and asked.path == parts.path
            and asked.query == parts.query
        ):
            return True
    return False


class InteractiveSignIn:
    """Mixed into LoginAuthority: authorize, logout, and the user grants of the token endpoint."""

    tenant: SimTenant
    keys: KeyMaterial
    base_url: str
    token_lifetime: int

    def _init_interactive(self, code_lifetime: int) -> None:
        self.code_lifetime = code_lifetime
        self._grants_lock = threading.Lock()
        self._codes: dict[str, UserGrant] = {}
        self._refresh_tokens: dict[str, UserGrant] = {}
        self._sessions: dict[str, tuple[str, int]] = {}  # session id -> (user id, auth time)

    def _error_body(self, exc: LoginError, client_request_id: str) -> dict[str, Any]:
        raise NotImplementedError  # LoginAuthority's

    def _issuer(self) -> str:
        return f"{self.base_url}/{self.tenant.tenant_id}/v2.0"

    # ----- pages ---------------------------------------------------------------------------------

    def _error_page(self, exc: LoginError, client_request_id: str) -> AuthResponse:
        trace_id = str(uuid.uuid4())
        html = pages.error_page(
            code=exc.code,
            error=exc.error,
            message=exc.message,
            trace_id=trace_id,
            correlation_id=client_request_id or str(uuid.uuid4()),
        )
        return AuthResponse(
            exc.status if exc.status >= 400 else 400, html, {}, content_type=HTML_CONTENT_TYPE
        )

    # ----- authorize -----------------------------------------------------------------------------

    def _authorize(
        self,
        method: str,
        tenant_segment: str,
        params: Mapping[str, str],
        cookie_header: str,
        client_request_id: str,
    ) -> AuthResponse:
        try:
            request = self._parse_authorize(tenant_segment, params)
            session = self._session_from_cookie(cookie_header)
            chosen = params.get("user_id", "") if method == "POST" else ""
            if chosen:
                user = self._find_user(chosen)
                return self._sign_in(request, user, session_id=None)
            if request.prompt == "none":
                if session is None or not self._hint_matches(request.login_hint, session[1]):
                    raise RedirectError(
                        request,
                        "login_required",
                        50058,
                        "A silent sign-in request was sent but no user is signed in.",
                    )
                return self._sign_in(request, self.tenant.users[session[1]], session[0])
            if (
                request.prompt is None
                and session is not None
                and self._hint_matches(request.login_hint, session[1])
            ):
                # Single sign-on: the browser already has a session, as with Entra.
                return self._sign_in(request, self.tenant.users[session[1]], session[0])
            return self._picker(request, params)
        except RedirectError as exc:
            return self._redirect_error(exc, client_request_id)
        except LoginError as exc:
            return self._error_page(exc, client_request_id)

    def _parse_authorize(self, tenant_segment: str, p: Mapping[str, str]) -> AuthorizeRequest:
        app = self.tenant.app
        client_id = p.get("client_id", "")
        if not client_id:
            raise LoginError(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            )
        if client_id.lower() != app.client_id.lower():
            raise LoginError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{self.tenant.display_name}'. This can happen if the application has not been "
                "installed by the administrator of the tenant or consented to by any user in the "
                "tenant. You may have sent your authentication request to the wrong tenant.",
            )
        redirect_uri = p.get("redirect_uri", "")
        if not redirect_uri:
            if not app.redirect_uris:
                raise LoginError(
                    400,
                    "invalid_request",
                    500113,
                    "No reply address is registered for the application.",
                )
            redirect_uri = app.redirect_uris[0]
        if not redirect_uri_allowed(app.redirect_uris, redirect_uri):
            raise LoginError(
                400,
                "invalid_request",
                50011,
                f"The redirect URI '{redirect_uri}' specified in the request does not match the "
                f"redirect URIs configured for the application '{app.client_id}'. Make sure the "
                "redirect URI sent in the request matches one added to your application in the "
                "Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more "
                "about how to fix this.",
            )
        mode = p.get("response_mode") or "query"
        request = AuthorizeRequest(
            tenant_segment=tenant_segment,
            client_id=app.client_id,
            redirect_uri=redirect_uri,
            response_mode=mode if mode in RESPONSE_MODES else "query",
            state=p.get("state") or None,
        )
        if mode not in RESPONSE_MODES:
            raise RedirectError(
                request, "invalid_request", 90100, "response_mode parameter is empty or not valid."
            )
        response_type = p.get("response_type", "")
        if not response_type:
            raise RedirectError(
                request,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'response_type'.",
            )
        if response_type != "code":
            if set(response_type.split()) <= {"code", "id_token", "token"}:
                raise RedirectError(
                    request,
                    "unsupported_response_type",
                    700054,
                    f"response_type '{response_type}' is not enabled for the application.",
                )
            raise RedirectError(
                request,
                "unsupported_response_type",
                70005,
                f"The response_type '{response_type}' is not supported.",
            )
        scope = p.get("scope", "")
        if not scope.strip():
            raise RedirectError(
                request,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'scope'.",
            )
        request.scopes = self._user_scopes(scope, lambda *a: RedirectError(request, *a))
        challenge = p.get("code_challenge") or None
        method = p.get("code_challenge_method") or None
        if challenge is None and method is not None:
            raise RedirectError(
                request, "invalid_request", 90100, "code_challenge parameter is empty or not valid."
            )
        if challenge is not None:
            method = method or "plain"
            if method not in ("S256", "plain"):
                raise RedirectError(
                    request,
                    "invalid_request",
                    90100,
                    "code_challenge_method parameter is empty or not valid.",
                )
        request.code_challenge, request.code_challenge_method = challenge, method
        prompt = p.get("prompt") or None
        if prompt is not None and prompt not in PROMPTS:
            raise RedirectError(
                request,
                "invalid_request",
                90023,
                f"Invalid value for the prompt parameter: '{prompt}'.",
            )
        request.prompt = prompt
        request.nonce = p.get("nonce") or None
        request.login_hint = p.get("login_hint") or None
        request.client_info = p.get("client_info") == "1"
        request.max_age = bool(p.get("max_age"))
        return request

    def _user_scopes(self, scope: str, error: Any) -> list[str]:
        """Scopes of a delegated request: OIDC ones plus Microsoft Graph permissions, given as
        "User.Read", "https://graph.microsoft.com/User.Read" or ".../.default"."""
        scopes = scope.split()
        graph_prefixes = (GRAPH_RESOURCE + "/", GRAPH_APP_ID + "/")
        for item in scopes:
            if item in OIDC_SCOPES or ("/" not in item and ":" not in item):
                continue
            if item.startswith(graph_prefixes) or item.startswith(self.base_url + "/"):
                continue
            resource = item.rsplit("/", 1)[0]
            raise error(
                "invalid_resource",
                500011,
                f"The resource principal named {resource} was not found in the tenant named "
                f"{self.tenant.display_name}. This can happen if the application has not been "
                "installed by the administrator of the tenant or consented to by any user in the "
                "tenant. You might have sent your authentication request to the wrong tenant.",
            )
        return scopes

    def _hint_matches(self, login_hint: str | None, user_id: str) -> bool:
        if not login_hint:
            return True
        user = self.tenant.users.get(user_id)
        return user is not None and login_hint.lower() in (
            user.user_principal_name.lower(),
            (user.mail or "").lower(),
            user.id.lower(),
        )

    def _find_user(self, key: str) -> User:
        """A user by object id or UPN; refuse unknown and disabled accounts as Entra does."""
        with self.tenant.lock:
            user = self.tenant.users.get(key)
            if user is None:
                wanted = key.lower()
                user = next(
                    (
                        u
                        for u in self.tenant.users.values()
                        if u.user_principal_name.lower() == wanted
                    ),
                    None,
                )
        if user is None:
            raise LoginError(
                400,
                "invalid_request",
                50034,
                f"The user account {key} does not exist in the {self.tenant.tenant_id} "
                "directory. To sign into this application, the account must be added to the "
                "directory.",
            )
        if not user.account_enabled:
            raise LoginError(
                400,
                "invalid_request",
                50057,
                "The user account is disabled. The account has been disabled by an administrator.",
            )
        return user

    def _picker(self, request: AuthorizeRequest, params: Mapping[str, str]) -> AuthResponse:
        hinted = None
        if request.login_hint:
            hint = request.login_hint.lower()
            hinted = next(
                (
                    p.user_id
                    for p in self.tenant.demo_people()
                    if hint in (p.upn.lower(), p.user_id.lower())
                ),
                None,
            )
        carried = {k: v for k, v in params.items() if k != "user_id"}
        html = pages.picker_page(
            tenant_name=self.tenant.display_name,
            app_name=self.tenant.app.display_name,
            action=f"/{request.tenant_segment}/oauth2/v2.0/authorize",
            request_fields=carried,
            people=self.tenant.demo_people(),
            hinted_user_id=hinted,
        )
        return AuthResponse(200, html, {}, content_type=HTML_CONTENT_TYPE)

    def _sign_in(
        self, request: AuthorizeRequest, user: User, session_id: str | None
    ) -> AuthResponse:
        now = int(time.time())
        headers: dict[str, str] = {}
        with self._grants_lock:
            if session_id is None or session_id not in self._sessions:
                session_id = str(uuid.uuid4())
                self._sessions[session_id] = (user.id, now)
                headers["Set-Cookie"] = self._session_cookie(request.tenant_segment, session_id)
            auth_time = self._sessions[session_id][1]
            self._forget_expired_codes()
            code = "1.A" + b64url(secrets.token_bytes(96))
            self._codes[code] = UserGrant(
                client_id=request.client_id,
                user_id=user.id,
                scopes=request.scopes,
                session_id=session_id,
                auth_time=auth_time,
                redirect_uri=request.redirect_uri,
                code_challenge=request.code_challenge,
                code_challenge_method=request.code_challenge_method,
                nonce=request.nonce,
                max_age=request.max_age,
                expires_at=time.time() + self.code_lifetime,
            )
        values = {"code": code}
        if request.client_info:
            values["client_info"] = self._client_info(user.id)
        if request.state is not None:
            values["state"] = request.state
        values["session_state"] = session_id
        answer = self._deliver(request, values)
        answer.headers.update(headers)
        return answer

    def _forget_expired_codes(self) -> None:
        now = time.time()
        for code in [c for c, g in self._codes.items() if g.expires_at + 600 < now]:
            del self._codes[code]

    def _redirect_error(self, exc: RedirectError, client_request_id: str) -> AuthResponse:
        body = self._error_body(exc, client_request_id)
        values = {
            "error": exc.error,
            "error_description": str(body["error_description"]),
            "error_uri": str(body["error_uri"]),
        }
        if exc.request.state is not None:
            values["state"] = exc.request.state
        return self._deliver(exc.request, values)

    @staticmethod
    def _deliver(request: AuthorizeRequest, values: dict[str, str]) -> AuthResponse:
        """Send the answer to the reply URL in the requested response mode."""
        uri = request.redirect_uri
        if request.response_mode == "form_post":
            html = pages.form_post_page(uri, values)
            return AuthResponse(200, html, {}, content_type=HTML_CONTENT_TYPE)
        parts = urlsplit(uri)
        encoded = urlencode(values)
        if request.response_mode == "fragment":
            location = urlunsplit(parts._replace(fragment=encoded))
        else:
            query = f"{parts.query}&{encoded}" if parts.query else encoded
            location = urlunsplit(parts._replace(query=query))
        return AuthResponse(302, "", {"Location": location}, content_type=HTML_CONTENT_TYPE)

    # ----- sessions ------------------------------------------------------------------------------

    def _session_cookie(self, tenant_segment: str, session_id: str, *, clear: bool = False) -> str:
        value = "" if clear else session_id
        expiry = "; Max-Age=0" if clear else ""
        return (
            f"{SESSION_COOKIE}={value}; Path=/{tenant_segment}/; Secure; HttpOnly; "
            f"SameSite=Lax{expiry}"
        )

    def _session_from_cookie(self, cookie_header: str) -> tuple[str, str] | None:
        """(session id, user id) of a live session named by the request's cookie."""
        if not cookie_header:
            return None
        try:
            morsel = SimpleCookie(cookie_header).get(SESSION_COOKIE)
        except CookieError:
            return None
        if morsel is None:
            return None
        with self._grants_lock:
            entry = self._sessions.get(morsel.value)
        if entry is None:
            return None
        user = self.tenant.users.get(entry[0])
        if user is None or not user.account_enabled:
            return None
        return morsel.value, entry[0]

    # ----- logout --------------------------------------------------------------------------------

    def _logout(
        self, tenant_segment: str, params: Mapping[str, str], cookie_header: str
    ) -> AuthResponse:
        """End the simulated session (the cookie's, and every session of id_token_hint's user),
        then go to post_logout_redirect_uri if it is allowed, else show "You are signed out"."""
        hinted_user = None
        hint = params.get("id_token_hint")
        if hint:
            try:
                claims = jwt.decode(
                    hint,
                    self.keys.token_key.public_key(),
                    algorithms=["RS256"],
                    options={"verify_exp": False, "verify_aud": False},
                )
                hinted_user = claims.get("oid")
            except jwt.PyJWTError:
                hinted_user = None
        session = self._session_from_cookie(cookie_header)
        with self._grants_lock:
            if session is not None:
                self._sessions.pop(session[0], None)
            if hinted_user:
                for sid in [s for s, (u, _) in self._sessions.items() if u == hinted_user]:
                    del self._sessions[sid]
        headers = {"Set-Cookie": self._session_cookie(tenant_segment, "", clear=True)}
        target = params.get("post_logout_redirect_uri", "")
        if target and redirect_uri_allowed(self.tenant.app.redirect_uris, target):
            if params.get("state"):
                parts = urlsplit(target)
                extra = urlencode({"state": params["state"]})
                query = f"{parts.query}&{extra}" if parts.query else extra
                target = urlunsplit(parts._replace(query=query))
            headers["Location"] = target
            return AuthResponse(302, "", headers, content_type=HTML_CONTENT_TYPE)
        html = pages.signed_out_page(self.tenant.display_name)
        return AuthResponse(200, html, headers, content_type=HTML_CONTENT_TYPE)

    # ----- token endpoint: authorization_code and refresh_token --------------------------------

    def _redeem_code(self, form: Mapping[str, str], credential: str) -> AuthResponse:
        code = form.get("code", "")
        if not code:
            raise LoginError(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'code'.",
            )
        redirect_uri = form.get("redirect_uri", "")
        with self._grants_lock:
            grant = self._codes.get(code)
            if grant is None or grant.client_id.lower() != form.get("client_id", "").lower():
                raise LoginError(
                    400,
                    "invalid_grant",
                    70000,
                    "The provided value for the 'code' parameter is not valid. The code is "
                    "malformed, unknown, or was issued to another application.",
                )
            if grant.redeemed:
                raise LoginError(
                    400,
                    "invalid_grant",
                    54005,
                    "OAuth2 Authorization code was already redeemed, please retry with a new "
                    "valid code or use an existing refresh token.",
                )
            if grant.expires_at <= time.time():
                raise LoginError(
                    400,
                    "invalid_grant",
                    70008,
                    "The provided authorization code or refresh token has expired due to "
                    "inactivity. Send a new interactive authorization request for this user and "
                    "resource.",
                )
            if not redirect_uri:
                raise LoginError(
                    400,
                    "invalid_request",
                    900144,
                    "The request body must contain the following parameter: 'redirect_uri'.",
                )
            if redirect_uri != grant.redirect_uri:
                raise LoginError(
                    400,
                    "invalid_grant",
                    500112,
                    f"The reply address '{redirect_uri}' does not match the reply address "
                    f"'{grant.redirect_uri}' provided when requesting Authorization code.",
                )
            if grant.code_challenge is not None:
                verifier = form.get("code_verifier", "")
                expected = (
                    _pkce_s256(verifier) if grant.code_challenge_method == "S256" else verifier
                )
                if not verifier or not hmac.compare_digest(
                    expected.encode(), grant.code_challenge.encode()
                ):
                    raise LoginError(
                        400,
                        "invalid_grant",
                        501481,
                        "The Code_Verifier does not match the code_challenge supplied in the "
                        "authorization request.",
                    )
            grant.redeemed = True
        return self._user_tokens(grant, credential, form, with_nonce=True)

    def _redeem_refresh_token(self, form: Mapping[str, str], credential: str) -> AuthResponse:
        token = form.get("refresh_token", "")
        if not token:
            raise LoginError(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'refresh_token'.",
            )
        with self._grants_lock:
            grant = self._refresh_tokens.get(token)
        if grant is None or grant.client_id.lower() != form.get("client_id", "").lower():
            raise LoginError(
                400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."
            )
        return self._user_tokens(grant, credential, form, with_nonce=False)

    def _user_tokens(
        self, grant: UserGrant, credential: str, form: Mapping[str, str], *, with_nonce: bool
    ) -> AuthResponse:
        user = self.tenant.users.get(grant.user_id)
        if user is None or not user.account_enabled:
            raise LoginError(
                400,
                "invalid_grant",
                50057,
                "The user account is disabled. The account has been disabled by an administrator.",
            )
        resource_scopes = [s for s in grant.scopes if s not in OIDC_SCOPES]
        graph_scopes = [s.rsplit("/", 1)[-1] for s in resource_scopes]
        graph_scopes = [s for s in graph_scopes if s != ".default"] or [DEFAULT_GRAPH_SCOPE]
        oidc = [s for s in ("profile", "openid") if s in grant.scopes]
        if "openid" in grant.scopes:
            oidc.append("email")
        granted = (resource_scopes or [DEFAULT_GRAPH_SCOPE]) + oidc
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(granted),
            "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime,
            "access_token": self._user_access_token(user, grant, credential, graph_scopes + oidc),
        }
        if "offline_access" in grant.scopes:
            refresh = "1.A" + b64url(secrets.token_bytes(128))
            with self._grants_lock:
                self._refresh_tokens[refresh] = UserGrant(
                    client_id=grant.client_id,
                    user_id=grant.user_id,
                    scopes=list(grant.scopes),
                    session_id=grant.session_id,
                    auth_time=grant.auth_time,
                )
            body["refresh_token"] = refresh
        if "openid" in grant.scopes:
            body["id_token"] = self._id_token(user, grant, with_nonce=with_nonce)
        if form.get("client_info") == "1":
            body["client_info"] = self._client_info(user.id)
        return AuthResponse(200, body)

    def _client_info(self, user_id: str) -> str:
        info = json.dumps({"uid": user_id, "utid": self.tenant.tenant_id}, separators=(",", ":"))
        return b64url(info.encode())

    def _pairwise_sub(self, user_id: str, client_id: str) -> str:
        digest = hashlib.sha256(f"{self.tenant.tenant_id}/{client_id}/{user_id}".encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def _id_token(self, user: User, grant: UserGrant, *, with_nonce: bool) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": grant.client_id,
            "iss": self._issuer(),
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "name": user.display_name,
            "oid": user.id,
            "preferred_username": user.user_principal_name,
            "rh": "0.A" + b64url(secrets.token_bytes(24)),
            "sid": grant.session_id,
            "sub": self._pairwise_sub(user.id, grant.client_id),
            "tid": self.tenant.tenant_id,
            "uti": b64url(secrets.token_bytes(16)),
            "ver": "2.0",
        }
        if user.mail:
            claims["email"] = user.mail
        if with_nonce and grant.nonce is not None:
            claims["nonce"] = grant.nonce
        if grant.max_age:
            claims["auth_time"] = grant.auth_time
        roles = self.tenant.app_roles_of(user.id)
        if roles:
            claims["roles"] = roles
        return jwt.encode(
            claims, self.keys.token_key, algorithm="RS256", headers={"kid": self.keys.token_kid}
        )

    def _user_access_token(
        self, user: User, grant: UserGrant, credential: str, scopes: list[str]
    ) -> str:
        """A delegated Microsoft Graph token, shaped like Entra's (v1.0 format for Graph)."""
        now = int(time.time())
        app = self.tenant.app
        claims: dict[str, Any] = {
            "aud": GRAPH_RESOURCE,
            "iss": f"https://sts.windows.net/{self.tenant.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + self.token_lifetime,
            "amr": ["pwd"],
            "app_displayname": app.display_name,
            "appid": app.client_id,
            "appidacr": "1" if credential == "secret" else "2",
            "idtyp": "user",
            "name": user.display_name,
            "oid": user.id,
            "scp": " ".join(scopes),
            "sid": grant.session_id,
            "sub": self._pairwise_sub(user.id, GRAPH_APP_ID),
            "tid": self.tenant.tenant_id,
            "unique_name": user.user_principal_name,
            "upn": user.user_principal_name,
            "uti": b64url(secrets.token_bytes(16)),
            "ver": "1.0",
        }
        if user.given_name:
            claims["given_name"] = user.given_name
        if user.surname:
            claims["family_name"] = user.surname
        return jwt.encode(
            claims, self.keys.token_key, algorithm="RS256", headers={"kid": self.keys.token_kid}
        )
