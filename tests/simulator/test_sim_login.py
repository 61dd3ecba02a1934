"""The simulator's login authority, driven by unmodified msal and by raw token requests."""

from __future__ import annotations

import time
import uuid

import jwt
import msal
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from entrasim import Simulator, generate_tenant

from .simgraph import NOW, Graph

GRAPH_SCOPE = ["https://graph.microsoft.com/.default"]


@pytest.fixture
def trust(shared_sim, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(shared_sim.ca_path))
    return shared_sim


def confidential_app(sim, credential) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        sim.tenant.client_id,
        authority=f"{sim.authority_host}/{sim.tenant.tenant_id}",
        client_credential=credential,
        instance_discovery=False,
    )


def graph_accepts(sim, token: str) -> bool:
    answer = Graph(sim, token=token).get("/v1.0/roleManagement/directory/roleDefinitions")
    return answer.status_code == 200


def read_certificate_file(sim) -> tuple[str, str]:
    """(private key PEM, SHA-1 thumbprint hex) from the file AZURE_CLIENT_CERTIFICATE_PATH names."""
    data = sim.client_certificate_path.read_bytes()
    key = serialization.load_pem_private_key(data, None)
    cert = x509.load_pem_x509_certificate(data)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return key_pem, cert.fingerprint(hashes.SHA1()).hex()


def test_msal_gets_a_working_token_with_the_client_secret(trust):
    result = confidential_app(trust, trust.tenant.client_secret).acquire_token_for_client(
        GRAPH_SCOPE
    )

    assert result.get("token_type") == "Bearer", result
    assert result["expires_in"] == 3599
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["tid"] == trust.tenant.tenant_id
    assert claims["appid"] == trust.tenant.client_id
    assert "RoleManagement.Read.Directory" in claims["roles"]
    assert graph_accepts(trust, result["access_token"])


def test_msal_gets_a_token_with_the_certificate_file(trust):
    key_pem, thumbprint = read_certificate_file(trust)
    result = confidential_app(
        trust, {"private_key": key_pem, "thumbprint": thumbprint}
    ).acquire_token_for_client(GRAPH_SCOPE)

    assert "access_token" in result, result
    assert graph_accepts(trust, result["access_token"])


def test_msal_gets_a_token_with_a_sha256_certificate_assertion(trust):
    """msal signs PS256 with x5t#S256 when given the public certificate instead of a thumbprint."""
    key_pem, _ = read_certificate_file(trust)
    cert_pem = x509.load_pem_x509_certificate(trust.client_certificate_path.read_bytes())
    public = cert_pem.public_bytes(serialization.Encoding.PEM).decode()
    result = confidential_app(
        trust, {"private_key": key_pem, "public_certificate": public}
    ).acquire_token_for_client(GRAPH_SCOPE)

    assert "access_token" in result, result


def test_the_encrypted_certificate_needs_its_password(shared_sim):
    data = shared_sim.encrypted_client_certificate_path.read_bytes()
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(data, None)
    key = serialization.load_pem_private_key(data, shared_sim.client_certificate_password.encode())
    assert isinstance(key, rsa.RSAPrivateKey)


def test_msal_gets_a_token_with_a_federated_token_file_read_on_every_request(trust, tmp_path):
    token_file = trust.write_federated_token(tmp_path / "azure-identity-token")
    reads = []

    def assertion() -> str:
        reads.append(1)
        return token_file.read_text()

    result = confidential_app(trust, {"client_assertion": assertion}).acquire_token_for_client(
        GRAPH_SCOPE
    )

    assert "access_token" in result, result
    assert reads
    assert graph_accepts(trust, result["access_token"])
    claims = jwt.decode(token_file.read_text(), options={"verify_signature": False})
    assert claims["aud"] == ["api://AzureADTokenExchange"]


def test_a_federated_token_for_another_subject_is_refused(trust, tmp_path):
    token_file = trust.write_federated_token(
        tmp_path / "token", subject="system:serviceaccount:other:intruder"
    )
    result = confidential_app(
        trust, {"client_assertion": lambda: token_file.read_text()}
    ).acquire_token_for_client(GRAPH_SCOPE)

    assert result["error"] == "invalid_request"
    assert result["error_description"].startswith("AADSTS70021")
    assert result["error_codes"] == [70021]


def test_an_expired_federated_token_is_refused(graph, tmp_path):
    token_file = graph.sim.write_federated_token(tmp_path / "token", lifetime=-60)
    answer = graph.token_request(
        grant_type="client_credentials",
        client_id=graph.sim.tenant.client_id,
        scope="https://graph.microsoft.com/.default",
        client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion=token_file.read_text(),
    )

    assert answer.status_code == 401
    assert answer.json()["error_description"].startswith("AADSTS700024")


def test_a_wrong_secret_is_invalid_client_7000215(trust):
    result = confidential_app(trust, "not-the-secret").acquire_token_for_client(GRAPH_SCOPE)

    assert result["error"] == "invalid_client"
    assert "AADSTS7000215" in result["error_description"]
    for field in ("error_codes", "timestamp", "trace_id", "correlation_id"):
        assert field in result


def certificate_assertion(sim, *, key=None, lifetime=600, audience=None) -> str:
    key_pem, thumbprint = read_certificate_file(sim)
    signing_key = key or serialization.load_pem_private_key(key_pem.encode(), None)
    now = int(time.time())
    claims = {
        "aud": audience or f"{sim.authority_host}/{sim.tenant.tenant_id}/oauth2/v2.0/token",
        "iss": sim.tenant.client_id,
        "sub": sim.tenant.client_id,
        "iat": now,
        "exp": now + lifetime,
        "jti": str(uuid.uuid4()),
    }
    x5t = jwt.utils.base64url_encode(bytes.fromhex(thumbprint)).decode()
    return jwt.encode(claims, signing_key, algorithm="RS256", headers={"x5t": x5t})


def assertion_request(graph, assertion: str) -> requests.Response:
    return graph.token_request(
        grant_type="client_credentials",
        client_id=graph.sim.tenant.client_id,
        scope="https://graph.microsoft.com/.default",
        client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion=assertion,
    )


def test_certificate_assertions_are_verified(graph):
    sim = graph.sim
    assert assertion_request(graph, certificate_assertion(sim)).status_code == 200

    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = assertion_request(graph, certificate_assertion(sim, key=impostor))
    assert forged.status_code == 401
    assert forged.json()["error"] == "invalid_client"
    assert forged.json()["error_description"].startswith("AADSTS700027")

    expired = assertion_request(graph, certificate_assertion(sim, lifetime=-120))
    assert expired.status_code == 401
    assert expired.json()["error_description"].startswith("AADSTS700024")

    elsewhere = assertion_request(
        graph, certificate_assertion(sim, audience="https://login.example/t/oauth2/v2.0/token")
    )
    assert elsewhere.status_code == 401


def test_token_endpoint_errors_look_like_entra(graph):
    sim = graph.sim
    base = {
        "grant_type": "client_credentials",
        "client_id": sim.tenant.client_id,
        "client_secret": sim.tenant.client_secret,
        "scope": "https://graph.microsoft.com/.default",
    }

    unknown_client = graph.token_request(**{**base, "client_id": str(uuid.uuid4())})
    assert unknown_client.status_code == 400
    assert unknown_client.json()["error"] == "unauthorized_client"
    assert unknown_client.json()["error_description"].startswith("AADSTS700016")

    unknown_tenant = graph.token_request(tenant=str(uuid.uuid4()), **base)
    assert unknown_tenant.status_code == 400
    assert unknown_tenant.json()["error"] == "invalid_request"
    assert unknown_tenant.json()["error_codes"] == [90002]

    grant = graph.token_request(**{**base, "grant_type": "password"})
    assert grant.status_code == 400
    assert grant.json()["error"] == "unsupported_grant_type"

    scope = graph.token_request(**{**base, "scope": "https://graph.microsoft.com/User.Read"})
    assert scope.status_code == 400
    assert scope.json()["error"] == "invalid_scope"

    own_url = graph.token_request(**{**base, "scope": f"{sim.graph_url}/.default"})
    assert own_url.status_code == 200


def test_discovery_documents_and_a_bare_authorize_request(shared_sim):
    sim, verify = shared_sim, str(shared_sim.ca_path)
    base = f"{sim.authority_host}/{sim.tenant.tenant_id}"
    for path in ("/v2.0/.well-known/openid-configuration", "/.well-known/openid-configuration"):
        doc = requests.get(base + path, verify=verify, timeout=10).json()
        for field in (
            "authorization_endpoint",
            "token_endpoint",
            "end_session_endpoint",
            "jwks_uri",
        ):
            assert doc[field].startswith(base + "/"), (field, doc[field])
        assert doc["issuer"]

    unknown = requests.get(
        f"{sim.authority_host}/{uuid.uuid4()}/v2.0/.well-known/openid-configuration",
        verify=verify,
        timeout=10,
    )
    assert unknown.status_code == 400
    assert unknown.json()["error_description"].startswith("AADSTS90002")

    authorize = requests.get(f"{base}/oauth2/v2.0/authorize", verify=verify, timeout=10)
    assert authorize.status_code == 400
    assert authorize.headers["Content-Type"].startswith("text/html")
    assert "AADSTS900144" in authorize.text


def test_graph_requires_a_valid_unexpired_token(tmp_path):
    tenant = generate_tenant(privileged_assignments=5, seed=1, now=NOW)
    with Simulator(tenant, state_dir=tmp_path, token_lifetime=0) as sim:
        path = f"{sim.graph_url}/v1.0/servicePrincipals"
        verify = str(sim.ca_path)

        missing = requests.get(path, verify=verify, timeout=10)
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "InvalidAuthenticationToken"

        forged = requests.get(
            path, headers={"Authorization": "Bearer abc.def.ghi"}, verify=verify, timeout=10
        )
        assert forged.status_code == 401

        expired = Graph(sim).get("/v1.0/servicePrincipals")  # lifetime 0: born expired
        assert expired.status_code == 401
        assert "expired" in expired.json()["error"]["message"]


def test_env_describes_each_credential_mode(shared_sim, tmp_path):
    graph = Graph(shared_sim)
    secret_env = shared_sim.env()
    assert set(secret_env) == {
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_AUTHORITY_HOST",
        "GRAPH_URL",
        "REQUESTS_CA_BUNDLE",
    }
    assert secret_env["AZURE_AUTHORITY_HOST"] == shared_sim.authority_host

    certificate_env = shared_sim.env(credential="certificate")
    assert "AZURE_CLIENT_SECRET" not in certificate_env
    assert certificate_env["AZURE_CLIENT_CERTIFICATE_PATH"] == str(
        shared_sim.client_certificate_path
    )

    federated_env = shared_sim.env(credential="federated", federated_token_file=tmp_path / "t")
    answer = graph.token_request(
        grant_type="client_credentials",
        client_id=federated_env["AZURE_CLIENT_ID"],
        scope="https://graph.microsoft.com/.default",
        client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion=(tmp_path / "t").read_text(),
    )
    assert answer.status_code == 200, answer.text
