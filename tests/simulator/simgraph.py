"""A thin Graph client for the simulator's tests (a module, so test files can import it)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import requests

from entrasim import Simulator

NOW = datetime(2026, 1, 15, tzinfo=UTC)


class Graph:
    """requests.Session bound to one simulator, with a token obtained with the client secret."""

    def __init__(self, sim: Simulator, token: str | None = None) -> None:
        self.sim = sim
        self.session = requests.Session()
        # Per request, not Session.verify: requests lets a REQUESTS_CA_BUNDLE in the
        # environment override the session's setting.
        self.verify = str(sim.ca_path)
        self.token = token or self.fetch_token()
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    def fetch_token(self) -> str:
        answer = self.token_request(
            grant_type="client_credentials",
            client_id=self.sim.tenant.client_id,
            client_secret=self.sim.tenant.client_secret,
            scope="https://graph.microsoft.com/.default",
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    def token_request(self, tenant: str | None = None, **form: str) -> requests.Response:
        tenant = tenant or self.sim.tenant.tenant_id
        url = f"{self.sim.authority_host}/{tenant}/oauth2/v2.0/token"
        return requests.post(url, data=form, verify=str(self.sim.ca_path), timeout=10)

    def url(self, path: str) -> str:
        return path if path.startswith("https://") else f"{self.sim.graph_url}{path}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.url(path), verify=self.verify, timeout=10, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> requests.Response:
        return self.session.post(
            self.url(path), json=body, verify=self.verify, timeout=10, **kwargs
        )

    def delete(self, path: str) -> requests.Response:
        return self.session.delete(self.url(path), verify=self.verify, timeout=10)

    def pages(self, path: str, params: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """Every page of a listing; params go on the first request, next links carry them."""
        url: str | None = self.url(path)
        while url:
            answer = self.session.get(url, params=params, verify=self.verify, timeout=10)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            yield body
            url, params = body.get("@odata.nextLink"), None

    def items(self, path: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        return [item for page in self.pages(path, params) for item in page["value"]]
