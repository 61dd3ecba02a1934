"""Switchable failures, so clients can be tested against throttling, outages and partial reads.

Rules are consumed atomically (a `times=2` throttle fails exactly two requests even when many
threads hit the server at once). The same switches can be set over HTTP (`POST /_sim/faults`)
for a simulator running in another process.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

from .odata import GraphError

_MESSAGES = {
    "TooManyRequests": "Too many requests. Please retry after the time in the Retry-After header.",
    "ServiceUnavailable": "The service is temporarily unavailable. Please retry later.",
    "InternalServerError": "An internal server error occurred while processing the request.",
    "Authorization_RequestDenied": "Insufficient privileges to complete the operation.",
}


@dataclass
class Rule:
    kind: str  # throttle | unavailable | fail_page | forbid
    status: int
    code: str
    message: str
    times: int | None  # None: until clear()
    path_contains: str | None = None
    retry_after: float | None = None
    page: int | None = None

    def applies_to(self, target: str) -> bool:
        return self.path_contains is None or self.path_contains in target

    def error(self) -> GraphError:
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = _format_seconds(self.retry_after)
        return GraphError(self.status, self.code, self.message, headers)


def _format_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Faults:
    """The fault switches of one simulator (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._latency = 0.0
        self._beta_unavailable = False

    # ----- switches ------------------------------------------------------------------------

    @property
    def latency(self) -> float:
        return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._latency = max(0.0, float(seconds))

    @property
    def beta_unavailable(self) -> bool:
        return self._beta_unavailable

    @beta_unavailable.setter
    def beta_unavailable(self, value: bool) -> None:
        self._beta_unavailable = bool(value)

    def throttle(
        self, times: int = 1, retry_after: float = 0.5, path_contains: str | None = None
    ) -> None:
        """The next `times` matching Graph requests answer 429 with Retry-After."""
        self._add(
            Rule(
                "throttle",
                429,
                "TooManyRequests",
                _MESSAGES["TooManyRequests"],
                int(times),
                path_contains,
                retry_after,
            )
        )

    def unavailable(
        self,
        times: int = 1,
        status: int = 503,
        retry_after: float | None = None,
        path_contains: str | None = None,
    ) -> None:
        """The next `times` matching Graph requests answer 503 (or the given 5xx)."""
        code = "ServiceUnavailable" if status != 504 else "GatewayTimeout"
        self._add(
            Rule(
                "unavailable",
                int(status),
                code,
                _MESSAGES["ServiceUnavailable"],
                int(times),
                path_contains,
                retry_after,
            )
        )

    def fail_page(
        self,
        path_contains: str | None,
        page: int = 2,
        status: int = 500,
        code: str = "InternalServerError",
        times: int = 1,
        message: str | None = None,
    ) -> None:
        """Page `page` (1-based) of a matching listing fails; earlier pages succeed."""
        self._add(
            Rule(
                "fail_page",
                int(status),
                code,
                message or _MESSAGES.get(code, code),
                int(times),
                path_contains,
                None,
                int(page),
            )
        )

    def forbid(
        self,
        path_contains: str | None,
        status: int = 403,
        code: str = "Authorization_RequestDenied",
        message: str = _MESSAGES["Authorization_RequestDenied"],
    ) -> None:
        """Matching Graph requests are refused until clear()."""
        self._add(Rule("forbid", int(status), code, message, None, path_contains))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._latency = 0.0
            self._beta_unavailable = False

    # ----- used by the server ----------------------------------------------------------------

    def check_request(self, target: str) -> None:
        """Raise the error of the first request-level rule that fires for this request."""
        with self._lock:
            for rule in self._rules:
                if rule.kind != "fail_page" and rule.applies_to(target):
                    self._consume(rule)
                    raise rule.error()

    def check_page(self, target: str, page: int) -> None:
        """Raise when a fail_page rule targets this page of this listing."""
        with self._lock:
            for rule in self._rules:
                if rule.kind == "fail_page" and rule.page == page and rule.applies_to(target):
                    self._consume(rule)
                    raise rule.error()

    def _consume(self, rule: Rule) -> None:
        if rule.times is not None:
            rule.times -= 1
            if rule.times <= 0:
                self._rules.remove(rule)

    def _add(self, rule: Rule) -> None:
        if rule.times is not None and rule.times <= 0:
            return
        with self._lock:
            self._rules.append(rule)

    # ----- HTTP control -------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "latency": self._latency,
                "beta_unavailable": self._beta_unavailable,
                "rules": [asdict(r) for r in self._rules],
            }

    def apply(self, spec: dict[str, Any]) -> None:
        """Apply `{"clear": true, "latency": 0.2, "throttle": {...} | [{...}], ...}`."""
        if not isinstance(spec, dict):
            raise ValueError("expected a JSON object")
        unknown = set(spec) - {"clear", "latency", "beta_unavailable", *_OPERATIONS}
        if unknown:
            raise ValueError(f"unknown fault switches: {sorted(unknown)}")
        if spec.get("clear"):
            self.clear()
        if "latency" in spec:
            self.latency = float(spec["latency"])
        if "beta_unavailable" in spec:
            self.beta_unavailable = bool(spec["beta_unavailable"])
        for name in _OPERATIONS:
            if name not in spec:
                continue
            entries = spec[name]
            for kwargs in entries if isinstance(entries, list) else [entries]:
                if not isinstance(kwargs, dict):
                    raise ValueError(f"{name}: expected an object of arguments")
                getattr(self, name)(**kwargs)


_OPERATIONS = ("throttle", "unavailable", "fail_page", "forbid")
