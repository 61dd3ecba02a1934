"""msal against the simulator's login authority over real HTTPS, in all three credential modes."""

from __future__ import annotations

import pytest

from identities.graph import GraphAuthError, GraphConfigError, GraphSettings, TokenProvider


def settings_for(sim, **overrides) -> GraphSettings:
    env = sim.env()
    values = {
        "tenant_id": env["AZURE_TENANT_ID"],
        "client_id": env["AZURE_CLIENT_ID"],
        "authority_host": env["AZURE_AUTHORITY_HOST"],
        "graph_url": env["GRAPH_URL"],
        "client_secret": "",
    }
    values.update(overrides)
    return GraphSettings(**values)


@pytest.fixture(autouse=True)
def _trust_simulator(sim, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim.ca_path))


def token_endpoint_calls(sim) -> int:
    return sum(1 for r in list(sim.requests) if r.path.endswith("/oauth2/v2.0/token"))


def test_a_client_secret_gets_a_token(sim):
    provider = TokenProvider(settings_for(sim, client_secret=sim.tenant.client_secret))

    assert provider.config.mode == "secret"
    assert provider.token().count(".") == 2
    assert token_endpoint_calls(sim) == 1


def test_a_certificate_gets_a_token(sim):
    provider = TokenProvider(settings_for(sim, certificate_path=str(sim.client_certificate_path)))

    assert provider.config.mode == "certificate"
    assert provider.token()


def test_a_password_protected_certificate_gets_a_token(sim):
    path = sim.client_certificate_path.parent / "client-cert-encrypted.pem"
    provider = TokenProvider(
        settings_for(
            sim,
            certificate_path=str(path),
            certificate_password=sim.client_certificate_password,
        )
    )

    assert provider.token()


def test_a_federated_token_file_gets_a_token_and_is_read_again_for_each_request(sim, tmp_path):
    token_file = sim.write_federated_token(tmp_path / "azure-identity-token")
    provider = TokenProvider(settings_for(sim, federated_token_file=str(token_file)))

    assert provider.config.mode == "federated"
    assert provider.token()

    token_file.write_text("not-a-jwt")
    provider.invalidate()
    with pytest.raises(GraphAuthError) as refused:
        provider.token()
    assert "AZURE_FEDERATED_TOKEN_FILE" in str(refused.value) or refused.value.code

    sim.write_federated_token(token_file)
    provider.invalidate()
    assert provider.token()


def test_a_wrong_secret_names_the_setting_to_fix(sim):
    provider = TokenProvider(settings_for(sim, client_secret="not-the-secret"))

    with pytest.raises(GraphAuthError) as refused:
        provider.token()

    message = str(refused.value)
    assert "AZURE_CLIENT_SECRET" in message
    assert "AADSTS7000215" in message
    assert "not-the-secret" not in message


def test_an_unknown_tenant_names_the_tenant_setting(sim):
    provider = TokenProvider(
        settings_for(
            sim,
            tenant_id="00000000-0000-0000-0000-000000000000",
            client_secret=sim.tenant.client_secret,
        )
    )

    with pytest.raises(GraphAuthError) as refused:
        provider.token()

    assert "AZURE_TENANT_ID" in str(refused.value) or "AZURE_AUTHORITY_HOST" in str(refused.value)


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"tenant_id": ""}, "AZURE_TENANT_ID"),
        ({"client_id": ""}, "AZURE_CLIENT_ID"),
        ({"client_secret": ""}, "AZURE_CLIENT_SECRET"),
        ({"certificate_path": "/nonexistent/cert.pem"}, "AZURE_CLIENT_CERTIFICATE_PATH"),
        ({"federated_token_file": "/nonexistent/token"}, "AZURE_FEDERATED_TOKEN_FILE"),
        ({"authority_host": "http://127.0.0.1:1"}, "AZURE_AUTHORITY_HOST"),
    ],
)
def test_bad_configuration_is_refused_before_any_request(sim, overrides, setting):
    with pytest.raises(GraphConfigError) as refused:
        TokenProvider(settings_for(sim, **overrides))

    assert setting in str(refused.value)
    assert token_endpoint_calls(sim) == 0


def test_a_certificate_with_the_wrong_password_is_refused(sim):
    path = sim.client_certificate_path.parent / "client-cert-encrypted.pem"

    with pytest.raises(GraphConfigError) as refused:
        TokenProvider(settings_for(sim, certificate_path=str(path), certificate_password="nope"))

    assert "AZURE_CLIENT_CERTIFICATE_PASSWORD" in str(refused.value)


def test_an_unreachable_authority_is_a_clear_error(sim):
    provider = TokenProvider(
        settings_for(sim, authority_host="https://127.0.0.1:9", client_secret="x")
    )

    with pytest.raises(GraphAuthError) as refused:
        provider.token()

    assert "AZURE_AUTHORITY_HOST" in str(refused.value)
    assert "unreachable" in str(refused.value)
