"""The app's own workload identity: an msal confidential client built from the environment.

Three credential modes, chosen by which setting is present (azure-identity's names):
AZURE_FEDERATED_TOKEN_FILE (workload identity federation: no secret to manage), then
AZURE_CLIENT_CERTIFICATE_PATH, then AZURE_CLIENT_SECRET. Every failure names the setting to fix.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import msal
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from django.conf import settings

from .errors import GraphAuthError, GraphConfigError

# Hosts where msal's instance discovery makes sense; anywhere else (the simulator, a private
# authority) it would call Microsoft over the internet, so it is switched off.
MICROSOFT_AUTHORITY_HOSTS = {
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.partner.microsoftonline.cn",
    "login.chinacloudapi.cn",
}

# AADSTS codes → the setting an operator should look at.
_AADSTS_HINTS = {
    "AADSTS7000215": "AZURE_CLIENT_SECRET is wrong or expired",
    "AADSTS7000222": "AZURE_CLIENT_SECRET has expired",
    "AADSTS700016": "AZURE_CLIENT_ID is not an application in this tenant",
    "AADSTS90002": "AZURE_TENANT_ID does not name an existing tenant",
    "AADSTS900023": "AZURE_TENANT_ID is not a valid tenant id",
    "AADSTS700027": "the certificate in AZURE_CLIENT_CERTIFICATE_PATH is not registered on the app",
    "AADSTS700024": "the token in AZURE_FEDERATED_TOKEN_FILE has expired",
    "AADSTS70021": "no federated credential of the app matches AZURE_FEDERATED_TOKEN_FILE",
}


@dataclass(frozen=True)
class GraphSettings:
    tenant_id: str
    client_id: str
    authority_host: str
    graph_url: str
    client_secret: str = ""
    certificate_path: str = ""
    certificate_password: str = ""
    federated_token_file: str = ""

    @classmethod
    def from_django(cls) -> GraphSettings:
        return cls(
            tenant_id=settings.AZURE_TENANT_ID.strip(),
            client_id=settings.AZURE_CLIENT_ID.strip(),
            authority_host=settings.AZURE_AUTHORITY_HOST.strip().rstrip("/"),
            graph_url=settings.GRAPH_URL.strip().rstrip("/"),
            client_secret=settings.AZURE_CLIENT_SECRET,
            certificate_path=settings.AZURE_CLIENT_CERTIFICATE_PATH.strip(),
            certificate_password=settings.AZURE_CLIENT_CERTIFICATE_PASSWORD,
            federated_token_file=settings.AZURE_FEDERATED_TOKEN_FILE.strip(),
        )

    @property
    def mode(self) -> str:
        if self.federated_token_file:
            return "federated"
        if self.certificate_path:
            return "certificate"
        return "secret"

    @property
    def scope(self) -> str:
        return f"{self.graph_url}/.default"

    def validate(self) -> None:
        """Fail before any network call, with the name of the missing or bad setting."""
        if not self.tenant_id:
            raise GraphConfigError("AZURE_TENANT_ID is not set: give the Entra tenant id (a GUID).")
        if not self.client_id:
            raise GraphConfigError("AZURE_CLIENT_ID is not set: give the app registration's id.")
        for name, url in (
            ("AZURE_AUTHORITY_HOST", self.authority_host),
            ("GRAPH_URL", self.graph_url),
        ):
            parts = urlsplit(url)
            if parts.scheme != "https" or not parts.netloc:
                raise GraphConfigError(f"{name} must be an https:// URL, got {url!r}.")
        if self.mode == "secret" and not self.client_secret:
            raise GraphConfigError(
                "No credential: set AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_CERTIFICATE_PATH "
                "or AZURE_CLIENT_SECRET."
            )


def _certificate_credential(path: str, password: str) -> dict:
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise GraphConfigError(
            f"AZURE_CLIENT_CERTIFICATE_PATH {path!r} cannot be read: {exc.strerror}."
        ) from exc
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise GraphConfigError(
            f"AZURE_CLIENT_CERTIFICATE_PATH {path!r} holds no PEM certificate."
        ) from exc
    try:
        # Load once here so a wrong password is reported now, not at the first token request.
        serialization.load_pem_private_key(pem, password.encode() if password else None)
    except (ValueError, TypeError) as exc:
        hint = (
            "AZURE_CLIENT_CERTIFICATE_PASSWORD does not open its private key"
            if password
            else "its private key is missing or encrypted (set AZURE_CLIENT_CERTIFICATE_PASSWORD)"
        )
        raise GraphConfigError(f"AZURE_CLIENT_CERTIFICATE_PATH {path!r}: {hint}.") from exc
    credential = {
        "private_key": pem.decode(),
        "thumbprint": cert.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303 - Entra's x5t is SHA-1
    }
    if password:
        credential["passphrase"] = password
    return credential


def _federated_credential(path: str) -> dict:
    def read_token() -> str:
        # Re-read on every token request: Kubernetes rotates the projected token file.
        try:
            token = Path(path).read_text().strip()
        except OSError as exc:
            raise GraphAuthError(
                f"AZURE_FEDERATED_TOKEN_FILE {path!r} cannot be read: {exc.strerror}."
            ) from exc
        if not token:
            raise GraphAuthError(f"AZURE_FEDERATED_TOKEN_FILE {path!r} is empty.")
        return token

    if not Path(path).is_file():
        raise GraphConfigError(f"AZURE_FEDERATED_TOKEN_FILE {path!r} does not exist.")
    return {"client_assertion": read_token}


def client_credential(config: GraphSettings) -> dict | str:
    """The credential msal wants for this app registration, checked now (files, passwords).

    Shared by the sync's client-credentials flow and the sign-in's authorization-code flow, so
    that one app registration with one credential serves both.
    """
    if config.mode == "federated":
        return _federated_credential(config.federated_token_file)
    if config.mode == "certificate":
        return _certificate_credential(config.certificate_path, config.certificate_password)
    return config.client_secret


class TokenProvider:
    """Hands out app-only Graph tokens; msal caches them until five minutes before expiry."""

    def __init__(self, config: GraphSettings, *, http_client: requests.Session | None = None):
        config.validate()
        self.config = config
        self._credential = client_credential(config)
        self._http_client = http_client
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()

    def _application(self) -> msal.ConfidentialClientApplication:
        if self._app is not None:
            return self._app
        host = urlsplit(self.config.authority_host).hostname or ""
        try:
            self._app = msal.ConfidentialClientApplication(
                self.config.client_id,
                authority=f"{self.config.authority_host}/{self.config.tenant_id}",
                client_credential=self._credential,
                instance_discovery=host in MICROSOFT_AUTHORITY_HOSTS,
                http_client=self._http_client,
            )
        except requests.RequestException as exc:
            raise GraphAuthError(
                f"AZURE_AUTHORITY_HOST {self.config.authority_host} is unreachable "
                f"({type(exc).__name__})."
            ) from exc
        except ValueError as exc:
            # msal raises ValueError when the authority's discovery document is not usable.
            raise GraphAuthError(
                f"AZURE_AUTHORITY_HOST {self.config.authority_host} with AZURE_TENANT_ID "
                f"{self.config.tenant_id} is not a usable authority: {exc}"
            ) from exc
        return self._app

    def invalidate(self) -> None:
        """Drop cached tokens after Graph rejected one (revoked, or clock skew)."""
        with self._lock:
            if self._app is not None:
                self._app.remove_tokens_for_client()

    def token(self) -> str:
        with self._lock:
            app = self._application()
            try:
                result = app.acquire_token_for_client(scopes=[self.config.scope])
            except requests.RequestException as exc:
                raise GraphAuthError(
                    f"AZURE_AUTHORITY_HOST {self.config.authority_host} is unreachable "
                    f"({type(exc).__name__})."
                ) from exc
        if "access_token" in result:
            return result["access_token"]
        raise _auth_error(result)


def _auth_error(result: dict) -> GraphAuthError:
    description = str(result.get("error_description", ""))
    code = description.split(":", 1)[0].strip() if description.startswith("AADSTS") else ""
    hint = _AADSTS_HINTS.get(code)
    first_line = description.splitlines()[0] if description else "no description"
    message = f"{hint} ({first_line})" if hint else f"sign-in refused: {first_line}"
    return GraphAuthError(
        message,
        code=code or str(result.get("error", "")),
        request_id=str(result.get("correlation_id", "")),
    )
