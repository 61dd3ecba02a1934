"""A thread-safe record of every request the simulator answered, for assertions in tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    method: str
    path: str  # path and query, as the client sent them
    status: int
    at: float  # time.time() when the answer was sent
    duration: float  # seconds spent answering, including injected latency

    def as_dict(self) -> dict[str, object]:
        return {
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "at": self.at,
            "duration": self.duration,
        }


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
