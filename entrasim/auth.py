"""The login authority: OIDC discovery, the client-credentials token endpoint, token checks.

It accepts exactly what Entra accepts for an app (a client secret, a certificate-signed assertion,
or a federated workload-identity token) and fails the way Entra fails (AADSTS codes in the real
error JSON), so msal runs against it unmodified and error handling can be tested.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography import x509
from jwt.algorithms import RSAAlgorithm

from .authcore import (
    GRAPH_APP_ID,
    GRAPH_RESOURCE,
    RESERVED_SCOPES,
    AuthResponse,
    LoginError,
)
from .ca import KeyMaterial, b64url
from .interactive import InteractiveSignIn
from .odata import GraphError
from .tenant import SimTenant

__all__ = [
    "DEFAULT_APP_ROLES",
    "FEDERATED_AUDIENCE",
    "GRAPH_APP_ID",
    "GRAPH_RESOURCE",
    "AuthResponse",
    "LoginAuthority",
    "LoginError",
]

FEDERATED_AUDIENCE = "api://AzureADTokenExchange"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
GRANT_TYPES = ("client_credentials", "authorization_code", "refresh_token")

# What the sync's app registration is granted by default (GRAPH_CONTRACT.md, "Permissions").
DEFAULT_APP_ROLES = (
    "Application.Read.All",
    "RoleManagement.Read.Directory",
    "RoleEligibilitySchedule.Read.Directory",
    "AuditLog.Read.All",
    "RoleManagement.ReadWrite.Directory",
    "RoleAssignmentSchedule.ReadWrite.Directory",
    "RoleEligibilitySchedule.ReadWrite.Directory",
    "AppRoleAssignment.ReadWrite.All",
)


class LoginAuthority(InteractiveSignIn):
    """Serves `/{tenant}/...` for one tenant; base_url is the simulator's https origin."""

    def __init__(
        self,
        tenant: SimTenant,
        keys: KeyMaterial,
        base_url: str,
        graph_url: str,
        token_lifetime: int,
        code_lifetime: int = 600,
    ) -> None:
        self.tenant = tenant
        self.keys = keys
        self.base_url = base_url
        self.graph_url = graph_url
        self.token_lifetime = token_lifetime
        self._verified: dict[str, dict[str, Any]] = {}
        self._verified_lock = threading.Lock()
        self._init_interactive(code_lifetime)

    # ----- routing ---------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        segments: list[str],
        form: Mapping[str, str],
        client_request_id: str,
        query: Mapping[str, str] | None = None,
        cookie_header: str = "",
    ) -> AuthResponse:
        """Answer one request; form is the POST body, query the URL's parameters."""
        tenant_segment, rest = segments[0], "/".join(segments[1:])
        # The interactive endpoints take their parameters from the query or a POSTed form.
        params = {**(query or {}), **form}
        routes: dict[str, Callable[[], AuthResponse]] = {
            "v2.0/.well-known/openid-configuration": lambda: self._discovery(tenant_segment),
            ".well-known/openid-configuration": lambda: self._discovery(tenant_segment),
            "discovery/v2.0/keys": self._keys,
            "discovery/keys": self._keys,
            "oauth2/v2.0/token": lambda: self._token(method, tenant_segment, form),
            "oauth2/v2.0/authorize": lambda: self._authorize(
                method, tenant_segment, params, cookie_header, client_request_id
            ),
            "oauth2/v2.0/logout": lambda: self._logout(tenant_segment, params, cookie_header),
        }
        route = routes.get(rest)
        if route is None:
            return AuthResponse(404, {"error": "not_found", "error_description": "Not found."})
        try:
            if rest != "oauth2/v2.0/token" and not self._known_tenant(tenant_segment):
                # Discovery of an unknown tenant answers invalid_tenant, like Entra does.
                raise LoginError(400, "invalid_tenant", 90002, self._unknown_tenant(tenant_segment))
            return route()
        except LoginError as exc:
            if rest in ("oauth2/v2.0/authorize", "oauth2/v2.0/logout"):
                return self._error_page(exc, client_request_id)  # a browser is looking
            return AuthResponse(exc.status, self._error_body(exc, client_request_id))

    def _known_tenant(self, segment: str) -> bool:
        return segment.lower() in (
            self.tenant.tenant_id.lower(),
            self.tenant.default_domain.lower(),
        )

    @staticmethod
    def _unknown_tenant(segment: str) -> str:
        return (
            f"Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and "
            "are signing into the correct cloud. Check with your subscription administrator, this "
            "may happen if there are no active subscriptions for the tenant."
        )

    def _error_body(self, exc: LoginError, client_request_id: str) -> dict[str, Any]:
        trace_id = str(uuid.uuid4())
        correlation_id = client_request_id or str(uuid.uuid4())
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return {
            "error": exc.error,
            "error_description": (
                f"AADSTS{exc.code}: {exc.message} Trace ID: {trace_id} "
                f"Correlation ID: {correlation_id} Timestamp: {stamp}"
            ),
            "error_codes": [exc.code],
            "timestamp": stamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"{self.base_url}/error?code={exc.code}",
        }

    # ----- discovery -------------------------------------------------------------------------

    def _discovery(self, tenant_segment: str) -> AuthResponse:
        base = f"{self.base_url}/{self.tenant.tenant_id}"
        return AuthResponse(
            200,
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{base}/v2.0",
                "request_uri_parameter_supported": False,
                "userinfo_endpoint": f"{self.graph_url}/oidc/userinfo",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "claims_supported": [
                    "sub",
                    "iss",
                    "aud",
                    "exp",
                    "iat",
                    "auth_time",
                    "acr",
                    "nonce",
                    "preferred_username",
                    "name",
                    "tid",
                    "ver",
                    "at_hash",
                    "c_hash",
                    "email",
                ],
                "kerberos_endpoint": f"{base}/kerberos",
                "tenant_region_scope": "EU",
                "cloud_instance_name": "simulator.local",
                "cloud_graph_host_name": "graph.windows.net",
                "msgraph_host": self.graph_url.split("://", 1)[-1],
                "rbac_url": "https://pas.windows.net",
            },
        )

    def _keys(self) -> AuthResponse:
        jwk = RSAAlgorithm.to_jwk(self.keys.token_key.public_key(), as_dict=True)
        jwk.update({"kid": self.keys.token_kid, "use": "sig", "alg": "RS256"})
        return AuthResponse(200, {"keys": [jwk]})

    # ----- token endpoint -----------------------------------------------------------------------

    def _token(self, method: str, tenant_segment: str, form: Mapping[str, str]) -> AuthResponse:
        if method != "POST":
            raise LoginError(
                400, "invalid_request", 900561, "The endpoint only accepts POST requests."
            )
        if not self._known_tenant(tenant_segment):
            raise LoginError(400, "invalid_request", 90002, self._unknown_tenant(tenant_segment))
        grant_type = self._required(form, "grant_type")
        if grant_type not in GRANT_TYPES:
            raise LoginError(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant_type}'.",
            )
        client_id = self._required(form, "client_id")
        app = self.tenant.app
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
        if grant_type == "client_credentials":
            self._check_scope(self._required(form, "scope"))
        credential = self._authenticate_client(form, tenant_segment)
        if grant_type == "authorization_code":
            return self._redeem_code(form, credential)
        if grant_type == "refresh_token":
            return self._redeem_refresh_token(form, credential)
        token = self._issue_access_token(credential)
        return AuthResponse(
            200,
            {
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime,
                "access_token": token,
            },
        )

    def _authenticate_client(self, form: Mapping[str, str], tenant_segment: str) -> str:
        """Check the client secret or assertion; returns "secret", "certificate" or "federated"."""
        app = self.tenant.app
        if form.get("client_secret"):
            if not hmac.compare_digest(form["client_secret"].encode(), app.client_secret.encode()):
                raise LoginError(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request "
                    "is the client secret value, not the client secret ID, for a secret added to "
                    f"app '{app.client_id}'.",
                )
            return "secret"
        if form.get("client_assertion"):
            if form.get("client_assertion_type") != JWT_BEARER:
                raise LoginError(
                    400,
                    "invalid_request",
                    900144,
                    "The request body must contain the following parameter: "
                    f"'client_assertion_type' with the value '{JWT_BEARER}'.",
                )
            return self._check_assertion(form["client_assertion"], tenant_segment)
        raise LoginError(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or "
            "'client_secret'.",
        )

    @staticmethod
    def _required(form: Mapping[str, str], name: str) -> str:
        value = form.get(name)
        if not value:
            raise LoginError(
                400,
                "invalid_request",
                900144,
                f"The request body must contain the following parameter: '{name}'.",
            )
        return value

    def _check_scope(self, scope: str) -> None:
        wanted = [s for s in scope.split() if s not in RESERVED_SCOPES]
        accepted = {
            GRAPH_RESOURCE,
            GRAPH_RESOURCE + "/",
            GRAPH_APP_ID,
            self.graph_url.rstrip("/"),
            self.graph_url.rstrip("/") + "/",
        }
        if len(wanted) != 1 or not wanted[0].endswith("/.default"):
            raise LoginError(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows must "
                "have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        resource = wanted[0][: -len("/.default")]
        if resource not in accepted:
            raise LoginError(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource} was not found in the tenant named "
                f"{self.tenant.display_name}. This can happen if the application has not been "
                "installed by the administrator of the tenant or consented to by any user in the "
                "tenant. You might have sent your authentication request to the wrong tenant.",
            )

    def _token_endpoints(self, tenant_segment: str) -> list[str]:
        hosts = {self.base_url, self.base_url.replace("127.0.0.1", "localhost")}
        segments = {self.tenant.tenant_id, self.tenant.default_domain, tenant_segment}
        return [f"{h}/{s}/oauth2/v2.0/token" for h in hosts for s in segments]

    def _check_assertion(self, assertion: str, tenant_segment: str) -> str:
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise LoginError(
                400, "invalid_request", 50027, "JWT token is invalid or malformed."
            ) from None
        if "x5t" in header or "x5t#S256" in header:
            self._check_certificate_assertion(assertion, header, tenant_segment)
            return "certificate"
        self._check_federated_assertion(assertion, header, claims)
        return "federated"

    def _check_certificate_assertion(
        self, assertion: str, header: dict[str, Any], tenant_segment: str
    ) -> None:
        app = self.tenant.app
        presented = header.get("x5t#S256") or header.get("x5t")
        # Thumbprints arrive base64url-encoded, with or without padding (msal pads them).
        sha256_header = str(header.get("x5t#S256") or "").rstrip("=")
        sha1_header = str(header.get("x5t") or "").rstrip("=")
        registered = None
        for cert in app.certificates:
            sha1 = b64url(bytes.fromhex(cert["thumbprint"]))
            sha256 = b64url(bytes.fromhex(cert["thumbprint_sha256"]))
            if (sha256_header and sha256_header == sha256) or (
                not sha256_header and sha1_header == sha1
            ):
                registered = cert
                break
        if registered is None:
            raise LoginError(
                401,
                "invalid_client",
                700027,
                "The certificate with identifier used to sign the client assertion is not "
                f"registered on application. [Reason - The key was not found., Thumbprint of key "
                f"used by client: '{presented}']",
            )
        algorithm = header.get("alg")
        if algorithm not in ("RS256", "PS256"):
            raise LoginError(
                401, "invalid_client", 700027, f"Client assertion uses unsupported alg {algorithm}."
            )
        public_key = x509.load_pem_x509_certificate(registered["pem"].encode()).public_key()
        try:
            claims = jwt.decode(
                assertion,
                public_key,  # type: ignore[arg-type]
                algorithms=[algorithm],
                options={"require": ["exp", "aud", "iss", "sub"], "verify_aud": False},
            )
        except jwt.InvalidSignatureError:
            raise LoginError(
                401, "invalid_client", 700027, "Client assertion failed signature validation."
            ) from None
        except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError):
            raise self._time_range_error(assertion) from None
        except jwt.PyJWTError as exc:
            raise LoginError(
                400, "invalid_request", 50027, f"JWT token is invalid or malformed: {exc}."
            ) from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if not set(audiences) & set(self._token_endpoints(tenant_segment)):
            raise LoginError(
                401,
                "invalid_client",
                700027,
                f"Client assertion audience '{claims['aud']}' is not this token endpoint.",
            )
        if claims["iss"] != app.client_id or claims["sub"] != app.client_id:
            raise LoginError(
                401,
                "invalid_client",
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter.",
            )

    def _check_federated_assertion(
        self, assertion: str, header: dict[str, Any], claims: dict[str, Any]
    ) -> None:
        app = self.tenant.app
        issuer, subject = claims.get("iss"), claims.get("sub")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        no_match = LoginError(
            400,
            "invalid_request",
            70021,
            "No matching federated identity record found for presented assertion. Assertion "
            f"Issuer: '{issuer}'. Assertion Subject: '{subject}'. Assertion Audience: "
            f"'{','.join(str(a) for a in audiences)}'.",
        )
        candidates = [c for c in app.federated_credentials if c["issuer"] == issuer]
        if not candidates:
            raise no_match
        try:
            jwt.decode(
                assertion,
                self.keys.issuer_key.public_key(),
                algorithms=["RS256"],
                options={"require": ["exp", "iss", "sub", "aud"], "verify_aud": False},
            )
        except jwt.InvalidSignatureError:
            raise LoginError(
                401, "invalid_client", 700027, "Client assertion failed signature validation."
            ) from None
        except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError):
            raise self._time_range_error(assertion) from None
        except jwt.PyJWTError as exc:
            raise LoginError(
                400, "invalid_request", 50027, f"JWT token is invalid or malformed: {exc}."
            ) from None
        if not any(set(audiences) & set(c["audiences"]) for c in candidates):
            raise LoginError(
                400,
                "invalid_request",
                700212,
                "No matching federated identity record found for presented assertion audience "
                f"'{','.join(str(a) for a in audiences)}'.",
            )
        if not any(c["subject"] == subject for c in candidates):
            raise no_match

    @staticmethod
    def _time_range_error(assertion: str) -> LoginError:
        claims = jwt.decode(assertion, options={"verify_signature": False})
        now = datetime.now(UTC)

        def stamp(value: Any) -> str:
            try:
                return datetime.fromtimestamp(float(value), UTC).strftime("%m/%d/%Y %H:%M:%S")
            except (TypeError, ValueError):
                return "unknown"

        return LoginError(
            401,
            "invalid_client",
            700024,
            "Client assertion is not within its valid time range. Current time: "
            f"{now:%Y-%m-%dT%H:%M:%S}.0000000Z, assertion valid from {stamp(claims.get('nbf'))}, "
            f"expiry time of assertion {stamp(claims.get('exp'))}.",
        )

    # ----- tokens ---------------------------------------------------------------------------

    def _issue_access_token(self, credential: str) -> str:
        now = int(time.time())
        app = self.tenant.app
        claims = {
            "aud": GRAPH_RESOURCE,
            "iss": f"https://sts.windows.net/{self.tenant.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + self.token_lifetime,
            "app_displayname": app.display_name,
            "appid": app.client_id,
            "appidacr": "1" if credential == "secret" else "2",
            "idp": f"https://sts.windows.net/{self.tenant.tenant_id}/",
            "idtyp": "app",
            "oid": app.service_principal_id,
            "sub": app.service_principal_id,
            "roles": list(app.roles),
            "tid": self.tenant.tenant_id,
            "uti": b64url(secrets.token_bytes(16)),
            "ver": "1.0",
            "xms_sim_credential": credential,
        }
        return jwt.encode(
            claims, self.keys.token_key, algorithm="RS256", headers={"kid": self.keys.token_kid}
        )

    def verify_access_token(self, authorization: str | None) -> dict[str, Any]:
        """Claims of a valid bearer token for Graph; a 401 GraphError otherwise."""

        def refuse(message: str) -> GraphError:
            return GraphError(
                401,
                "InvalidAuthenticationToken",
                message,
                {
                    "WWW-Authenticate": (
                        f'Bearer realm="", authorization_uri="{self.base_url}/common/oauth2/'
                        f'authorize", client_id="{GRAPH_APP_ID}"'
                    )
                },
            )

        if not authorization:
            raise refuse("Access token is empty.")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise refuse("Access token is empty.")
        claims = self._verified.get(token)
        if claims is None:
            try:
                claims = jwt.decode(
                    token,
                    self.keys.token_key.public_key(),
                    algorithms=["RS256"],
                    audience=[GRAPH_RESOURCE, GRAPH_APP_ID],
                    options={"require": ["exp", "tid"]},
                )
            except jwt.ExpiredSignatureError:
                raise refuse("Lifetime validation failed, the token is expired.") from None
            except jwt.InvalidAudienceError:
                raise refuse("Access token validation failure. Invalid audience.") from None
            except jwt.PyJWTError:
                raise refuse("Invalid JWT token. Token signature could not be validated.") from None
            if claims.get("tid") != self.tenant.tenant_id:
                raise refuse("Access token validation failure. Invalid issuer.")
            with self._verified_lock:
                if len(self._verified) > 10_000:
                    self._verified.clear()
                self._verified[token] = claims
        if claims["exp"] <= time.time():
            raise refuse("Lifetime validation failed, the token is expired.")
        return claims

    # ----- workload identity ---------------------------------------------------------------

    def federated_token(self, *, issuer: str, subject: str, audience: str, lifetime: int) -> str:
        """A projected service-account token, as Kubernetes workload identity writes it."""
        now = int(time.time())
        claims = {
            "aud": [audience],
            "iss": issuer,
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": {
                "namespace": subject.split(":")[2] if subject.count(":") >= 3 else "default",
                "serviceaccount": {"name": subject.rsplit(":", 1)[-1], "uid": str(uuid.uuid4())},
            },
        }
        return jwt.encode(
            claims, self.keys.issuer_key, algorithm="RS256", headers={"kid": self.keys.issuer_kid}
        )
