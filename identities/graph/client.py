"""The one way spreview reaches Microsoft Graph: pooled HTTPS, paging, retries, typed errors.

Retries cover what Graph documents as temporary (429, 503, 504, and no answer at all for
idempotent calls), honouring Retry-After (seconds, possibly fractional) and otherwise backing off
exponentially with jitter, up to a fixed number of attempts. Tokens never reach a log line.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from .auth import GraphSettings, TokenProvider
from .errors import GraphError, GraphForbidden, GraphNotFound

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "DELETE"})


@dataclass
class ClientStats:
    requests: int = 0
    pages: int = 0
    retries: int = 0
    waited_seconds: float = 0.0


def _retry_after(response: requests.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None  # An HTTP-date: Graph does not send one; fall back to our own backoff.
    return max(0.0, value)


def _error_from(response: requests.Response) -> GraphError:
    code, message, request_id = "", "", response.headers.get("request-id", "")
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        code = str(error.get("code") or "")
        message = str(error.get("message") or "")
        inner = error.get("innerError") or error.get("innererror") or {}
        if isinstance(inner, dict):
            request_id = str(inner.get("request-id") or request_id)
    message = message or response.reason or "no message"
    cls = GraphError
    if response.status_code == 404:
        cls = GraphNotFound
    elif response.status_code in (401, 403):
        cls = GraphForbidden
    return cls(
        message[:2000],
        status=response.status_code,
        code=code,
        request_id=request_id,
        retry_after=_retry_after(response),
    )


class GraphClient:
    """A Graph session for one tenant; safe to share between threads."""

    def __init__(
        self,
        tokens: TokenProvider,
        graph_url: str,
        *,
        max_attempts: int = 6,
        max_backoff: float = 60.0,
        timeout: float = 30.0,
        pool_size: int = 16,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.tokens = tokens
        self.graph_url = graph_url.rstrip("/")
        self._origin = urlsplit(self.graph_url)[:2]
        self.max_attempts = max(1, max_attempts)
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.sleep = sleep
        self.stats = ClientStats()
        self._stats_lock = threading.Lock()
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
        self.session.mount("https://", adapter)

    @classmethod
    def from_settings(cls) -> GraphClient:
        config = GraphSettings.from_django()
        return cls(
            TokenProvider(config),
            config.graph_url,
            max_attempts=settings.GRAPH_MAX_ATTEMPTS,
            max_backoff=settings.GRAPH_MAX_BACKOFF_SECONDS,
            timeout=settings.GRAPH_TIMEOUT_SECONDS,
        )

    def close(self) -> None:
        self.session.close()

    def url(self, path: str, version: str = "v1.0") -> str:
        if path.startswith("https://"):
            # Only ever send our token back to Graph itself, whatever a nextLink says.
            if urlsplit(path)[:2] != self._origin:
                raise GraphError(f"refusing to follow a link outside {self.graph_url}")
            return path
        return f"{self.graph_url}/{version}/{path.lstrip('/')}"

    def _count(self, **deltas: float) -> None:
        with self._stats_lock:
            for name, delta in deltas.items():
                setattr(self.stats, name, getattr(self.stats, name) + delta)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        ceiling = min(self.max_backoff, 0.5 * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security

    def request(
        self,
        method: str,
        path: str,
        *,
        version: str = "v1.0",
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """Send one call, retrying what is temporary; raise a typed GraphError otherwise."""
        url = self.url(path, version)
        refreshed_token = False
        attempt = 0
        while True:
            attempt += 1
            request_headers = {"Authorization": f"Bearer {self.tokens.token()}"}
            if headers:
                request_headers.update(headers)
            self._count(requests=1)
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    headers=request_headers,
                    timeout=self.timeout,
                )
            except requests.RequestException as exc:
                error = GraphError(f"{type(exc).__name__} talking to {self.graph_url}")
                if method not in IDEMPOTENT_METHODS or attempt >= self.max_attempts:
                    raise error from exc
                delay = self._backoff(attempt, None)
                logger.warning("Graph %s %s: %s; retry in %.2fs", method, path[:200], error, delay)
                self._count(retries=1, waited_seconds=delay)
                self.sleep(delay)
                continue
            if response.status_code < 400:
                return response
            error = _error_from(response)
            if (
                response.status_code == 401
                and error.code == "InvalidAuthenticationToken"
                and not refreshed_token
            ):
                refreshed_token = True
                self.tokens.invalidate()
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.max_attempts:
                delay = self._backoff(attempt, error.retry_after)
                logger.info(
                    "Graph %s %s answered %s %s, retry %d in %.2fs (request-id %s)",
                    method,
                    urlsplit(url).path,
                    response.status_code,
                    error.code,
                    attempt,
                    delay,
                    error.request_id,
                )
                self._count(retries=1, waited_seconds=delay)
                self.sleep(delay)
                continue
            logger.warning("Graph %s %s failed: %s", method, urlsplit(url).path, error)
            raise error

    def get(
        self,
        path: str,
        *,
        version: str = "v1.0",
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        return self._json(
            self.request("GET", path, version=version, params=params, headers=headers)
        )

    def post(self, path: str, body: Any, *, version: str = "v1.0") -> dict[str, Any]:
        return self._json(self.request("POST", path, version=version, json=body))

    def delete(self, path: str, *, version: str = "v1.0") -> None:
        self.request("DELETE", path, version=version)

    @staticmethod
    def _json(response: requests.Response) -> dict[str, Any]:
        if response.status_code == 204 or not response.content:
            return {}
        try:
            body = response.json()
        except ValueError as exc:
            raise GraphError(
                "Graph answered with something that is not JSON",
                status=response.status_code,
                request_id=response.headers.get("request-id", ""),
            ) from exc
        if not isinstance(body, dict):
            raise GraphError("Graph answered with JSON that is not an object")
        return body

    def iter_pages(
        self,
        path: str,
        *,
        version: str = "v1.0",
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield each page's `value`, following @odata.nextLink exactly as Graph gave it.

        Headers (e.g. ConsistencyLevel) are re-sent on every page; parameters are not, because
        the nextLink already carries them.
        """
        body = self.get(path, version=version, params=params, headers=headers)
        while True:
            self._count(pages=1)
            value = body.get("value")
            if not isinstance(value, list):
                raise GraphError(f"Graph listing {path[:200]} has no 'value' array")
            yield [item for item in value if isinstance(item, dict)]
            next_link = body.get("@odata.nextLink")
            if not next_link:
                return
            if not isinstance(next_link, str):
                raise GraphError("Graph gave a nextLink that is not a string")
            body = self.get(next_link, headers=headers)
