"""A thread-safe record of every request the simulator answered, for assertions in tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    method: str
    path: str  # path and query, as the client sent them
    status: int
    at: float  # time.time() when the answer was sent
    duration: float  # seconds spent answering, including injected latency
    # What a removal acted on (see `removal_target`), so tests can count requests per grant.
    target: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "at": self.at,
            "duration": self.duration,
            "target": self.target,
        }


def removal_target(method: str, path: str, body: bytes) -> str:
    """The grant a removal names: the roleAssignment or appRoleAssignment id of a DELETE, or
    "principalId roleDefinitionId directoryScopeId" of a schedule request (the path alone does
    not say).
    Nothing else is kept from a body: token requests carry secrets."""
    route = path.split("?", 1)[0]
    if method == "DELETE" and "/roleManagement/directory/roleAssignments/" in route:
        return unquote(route.rsplit("/", 1)[-1])
    if method == "DELETE" and ("/appRoleAssignedTo/" in route or "/appRoleAssignments/" in route):
        return unquote(route.rsplit("/", 1)[-1])  # the appRoleAssignment id, from either side
    if method != "POST" or not route.endswith("ScheduleRequests"):
        return ""
    try:
        data = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return ""
    if not isinstance(data, dict):
        return ""
    keys = ("principalId", "roleDefinitionId", "directoryScopeId")
    return " ".join(str(data.get(k) or "") for k in keys)[:512]


class RequestLog:
    """List-like (iterate, index, len) and safe to read while server threads append."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[LoggedRequest] = []

    def append(self, item: LoggedRequest) -> None:
        with self._lock:
            self._items.append(item)

    def snapshot(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def matching(
        self, path_contains: str = "", method: str | None = None, status: int | None = None
    ) -> list[LoggedRequest]:
        """Requests whose path contains the text (and with that method / status, if given)."""
        return [
            r
            for r in self.snapshot()
            if path_contains in r.path
            and (method is None or r.method == method)
            and (status is None or r.status == status)
        ]

    def __iter__(self) -> Iterator[LoggedRequest]:
        return iter(self.snapshot())

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __getitem__(self, index: int) -> LoggedRequest:
        with self._lock:
            return self._items[index]
