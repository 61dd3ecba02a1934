"""Fetch the privileged roleAssignments listing with the official Microsoft Graph SDK.

The benchmark compares our own Graph client against what a user would reach for instead:
`msgraph-sdk` (GraphServiceClient over kiota + httpx) authenticated by azure-identity's
ClientSecretCredential. A plain `requests` + msal loop is included as a sanity baseline.

Both talk to a local Entra ID / Graph simulator, which differs from the real service in ways
each client has to be told about explicitly:
- the login authority is not a Microsoft host: azure-identity needs `authority=` and
  `disable_instance_discovery=True` (msal: `instance_discovery=False`);
- TLS is signed by the simulator's own CA: trust is passed explicitly to every client
  (azure-identity's requests transport through `connection_verify`, the SDK's httpx client
  through an `ssl.SSLContext`, msal and requests through `verify`); no env var is touched;
- Graph lives at `graph_url`, so the request adapter's base URL is `{graph_url}/v1.0`, the scope
  is `{graph_url}/.default`, and the graph host must be an allowed host of the token provider.

Only the listing is timed: the client is built and a first token acquired beforehand.

Usage: python bench/msgraph_sdk_fetch.py --graph-url URL --authority-host URL --tenant-id ID
       --client-id ID --client-secret SECRET --ca-path PEM --role-ids a,b,c [--client requests]
Prints {"seconds": …, "items": …, "pages": …} as JSON on the last line of stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

# Directory queries accept at most 15 values in one `in (...)` clause.
FILTER_IN_LIMIT = 15
ROLE_ASSIGNMENTS = "roleManagement/directory/roleAssignments"


def _filters(role_ids: list[str]) -> Iterator[str]:
    """One `$filter` per chunk of at most FILTER_IN_LIMIT distinct ids (sorted, as ours does)."""
    ids = sorted(set(role_ids))
    for start in range(0, len(ids), FILTER_IN_LIMIT):
        chunk = ids[start : start + FILTER_IN_LIMIT]
        quoted = ", ".join("'" + role_id.replace("'", "''") + "'" for role_id in chunk)
        yield f"roleDefinitionId in ({quoted})"


# --------------------------------------------------------------------------- msgraph-sdk


async def _build_sdk_client(
    *,
    graph_url: str,
    authority_host: str,
    tenant_id: str,
    client_id: str,
    client_secret: str,
    ca_path: str,
) -> tuple[Any, Any, Any]:
    """A GraphServiceClient wired for the simulator, with a token already acquired.

    Returns (graph_client, credential, http_client); the caller closes the last two.
    """
    import httpx
    from azure.identity import ClientSecretCredential
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from kiota_http.kiota_client_factory import (
        DEFAULT_CONNECTION_TIMEOUT,
        DEFAULT_REQUEST_TIMEOUT,
    )
    from msgraph import GraphRequestAdapter, GraphServiceClient
    from msgraph import graph_request_adapter as sdk_adapter_module
    from msgraph_core import GraphClientFactory

    base_url = f"{graph_url.rstrip('/')}/v1.0"
    scopes = [f"{graph_url.rstrip('/')}/.default"]

    # azure-identity: its requests transport takes `connection_verify` (azure-core) for the CA.
    credential = ClientSecretCredential(
        tenant_id,
        client_id,
        client_secret,
        authority=authority_host,
        disable_instance_discovery=True,
        connection_verify=ca_path,
    )
    # GraphServiceClient(credentials, scopes) builds this same (kiota) provider, there with no
    # allowed hosts, meaning every host. Here it is narrowed to the Graph host so that a token is
    # never attached to a request for another host. For a host outside the list the provider
    # silently sends no Authorization header (the request then fails with 401). msgraph_core's
    # subclass of the same name defaults to the national-cloud URLs and, with kiota-abstractions
    # 1.16, cannot be built with its defaults (ValueError: host with an https:// prefix).
    graph_host = urlsplit(graph_url).hostname or ""
    auth_provider = AzureIdentityAuthenticationProvider(
        credential, scopes=scopes, allowed_hosts=[graph_host]
    )
    # The SDK's default httpx client (KiotaClientFactory.get_default_client) with the same
    # timeouts and HTTP/2 setting, plus trust in the simulator's CA, and the default middleware
    # (redirect, retry, parameter-name decoding, URL replace, user agent, inspection, telemetry)
    # built with the same options GraphRequestAdapter uses when it creates the client itself.
    http_client = httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(DEFAULT_REQUEST_TIMEOUT, connect=DEFAULT_CONNECTION_TIMEOUT),
        http2=True,
        verify=ssl.create_default_context(cafile=ca_path),
    )
    http_client = GraphClientFactory.create_with_default_middleware(
        client=http_client, options=sdk_adapter_module.options
    )
    adapter = GraphRequestAdapter(auth_provider, client=http_client)
    adapter.base_url = base_url
    graph_client = GraphServiceClient(request_adapter=adapter)

    # Warm the token cache through the very call the SDK makes before each request.
    token = await auth_provider.access_token_provider.get_authorization_token(f"{base_url}/")
    if not token:
        raise RuntimeError(f"azure-identity returned no token for {graph_url}")
    _warm_model_imports()
    return graph_client, credential, http_client


def _warm_model_imports() -> None:
    """Run once the imports the SDK's deserializers perform, as a long-running process has.

    Entity.get_field_deserializers imports every model module it may need (about 2,400) on its
    first call: several seconds in a fresh interpreter. A warm process has paid that already, so
    it is kept out of the timed fetch. (Each later call still executes those import statements
    against sys.modules, which is the SDK's real per-object cost and stays in the timing.)
    """
    from msgraph.generated.models.group import Group
    from msgraph.generated.models.service_principal import ServicePrincipal
    from msgraph.generated.models.unified_role_assignment import UnifiedRoleAssignment
    from msgraph.generated.models.unified_role_assignment_collection_response import (
        UnifiedRoleAssignmentCollectionResponse,
    )
    from msgraph.generated.models.user import User

    for model in (
        UnifiedRoleAssignmentCollectionResponse,
        UnifiedRoleAssignment,
        ServicePrincipal,
        User,
        Group,
    ):
        model().get_field_deserializers()


async def _sdk_fetch(graph_client: Any, role_ids: list[str]) -> tuple[int, int]:
    """Every page of the listing through the SDK's request builders; (items, pages)."""
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from msgraph.generated.role_management.directory.role_assignments.role_assignments_request_builder import (  # noqa: E501
        RoleAssignmentsRequestBuilder,
    )

    builder = graph_client.role_management.directory.role_assignments
    items = pages = 0
    for role_filter in _filters(role_ids):
        query = RoleAssignmentsRequestBuilder.RoleAssignmentsRequestBuilderGetQueryParameters(
            filter=role_filter, expand=["principal"]
        )
        page = await builder.get(request_configuration=RequestConfiguration(query_parameters=query))
        # with_url(next_link) rather than PageIterator: PageIterator.iterate() stops at the first
        # empty page even when it carries a nextLink, and Graph may send such pages.
        while page is not None:
            pages += 1
            items += len(page.value or [])
            if not page.odata_next_link:
                break
            page = await builder.with_url(page.odata_next_link).get()
    return items, pages


async def _sdk_run(role_ids: list[str], **connection: str) -> dict:
    graph_client, credential, http_client = await _build_sdk_client(**connection)
    try:
        started = time.perf_counter()
        items, pages = await _sdk_fetch(graph_client, role_ids)
        seconds = time.perf_counter() - started
    finally:
        await http_client.aclose()
        credential.close()
    return {"seconds": seconds, "items": items, "pages": pages}


def fetch_role_assignments_with_sdk(
    *,
    graph_url: str,
    authority_host: str,
    tenant_id: str,
    client_id: str,
    client_secret: str,
    ca_path: str,
    role_ids: list[str],
) -> dict:
    """Fetch every page of GET {graph_url}/v1.0/roleManagement/directory/roleAssignments
    ($filter=roleDefinitionId in (…) with at most 15 ids per request, $expand=principal),
    following @odata.nextLink, with msgraph-sdk and azure-identity.

    Returns {"seconds": wall time of the listing only (client built, token acquired),
    "items": count, "pages": count}.
    """
    return asyncio.run(
        _sdk_run(
            role_ids,
            graph_url=graph_url,
            authority_host=authority_host,
            tenant_id=tenant_id,
            client_id=client_id,
            client_secret=client_secret,
            ca_path=ca_path,
        )
    )


# --------------------------------------------------------------------------- requests + msal

RETRY_STATUSES = frozenset({429, 503, 504})
MAX_ATTEMPTS = 5


def _get(session: Any, url: str, params: dict[str, str] | None = None) -> dict:
    """GET a Graph page, honouring Retry-After on 429/503/504 a few times."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        response = session.get(url, params=params, timeout=(30, 100))
        if response.status_code in RETRY_STATUSES and attempt < MAX_ATTEMPTS:
            try:
                delay = float(response.headers.get("Retry-After", ""))
            except ValueError:
                delay = 2.0 ** (attempt - 1)
            time.sleep(min(max(delay, 0.0), 60.0))
            continue
        response.raise_for_status()
        return response.json()
    raise AssertionError("unreachable")


def _session_trusting(ca_path: str) -> Any:
    """A requests.Session that verifies TLS against ca_path only.

    `Session.verify` alone is not enough: with trust_env (the default) requests replaces it by
    $REQUESTS_CA_BUNDLE or $CURL_CA_BUNDLE whenever the call itself passes no `verify`, which is
    how msal calls it. Environment proxies and .netrc are not wanted for a local simulator either.
    """
    import requests

    session = requests.Session()
    session.trust_env = False
    session.verify = ca_path
    return session


def fetch_role_assignments_with_requests(
    *,
    graph_url: str,
    authority_host: str,
    tenant_id: str,
    client_id: str,
    client_secret: str,
    ca_path: str,
    role_ids: list[str],
) -> dict:
    """The same listing with a plain requests.Session and an msal bearer token (baseline).

    Returns {"seconds": wall time of the listing only, "items": count, "pages": count}.
    """
    import msal

    app = msal.ConfidentialClientApplication(
        client_id,
        authority=f"{authority_host.rstrip('/')}/{tenant_id}",
        client_credential=client_secret,
        instance_discovery=False,
        http_client=_session_trusting(ca_path),
    )
    result = app.acquire_token_for_client(scopes=[f"{graph_url.rstrip('/')}/.default"])
    if "access_token" not in result:
        raise RuntimeError(
            f"token request failed: {result.get('error')}: {result.get('error_description')}"
        )
    url = f"{graph_url.rstrip('/')}/v1.0/{ROLE_ASSIGNMENTS}"
    items = pages = 0
    with _session_trusting(ca_path) as session:
        session.headers["Authorization"] = f"Bearer {result['access_token']}"
        session.headers["Accept"] = "application/json"
        started = time.perf_counter()
        for role_filter in _filters(role_ids):
            body = _get(session, url, {"$filter": role_filter, "$expand": "principal"})
            while True:
                pages += 1
                items += len(body.get("value") or [])
                next_link = body.get("@odata.nextLink")
                if not next_link:
                    break
                body = _get(session, next_link)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "items": items, "pages": pages}


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--graph-url", required=True)
    parser.add_argument("--authority-host", required=True)
    parser.add_argument("--tenant-id", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--ca-path", required=True)
    parser.add_argument("--role-ids", required=True, help="comma-separated role definition ids")
    parser.add_argument("--client", choices=("sdk", "requests"), default="sdk")
    args = parser.parse_args(argv)
    fetch = (
        fetch_role_assignments_with_sdk
        if args.client == "sdk"
        else fetch_role_assignments_with_requests
    )
    result = fetch(
        graph_url=args.graph_url,
        authority_host=args.authority_host,
        tenant_id=args.tenant_id,
        client_id=args.client_id,
        client_secret=args.client_secret,
        ca_path=args.ca_path,
        role_ids=[role_id.strip() for role_id in args.role_ids.split(",") if role_id.strip()],
    )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
