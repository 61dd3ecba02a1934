"""Saving the tenant after Graph mutations without stalling the server on large tenants.

A small tenant is written synchronously after each change (a test may read tenant.json right
after a removal). A large one is written by a background thread that coalesces bursts of
removals, because serialising 50,000 assignments per DELETE would throttle an apply run.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from .tenant import SimTenant

SYNC_SAVE_LIMIT = 10_000  # records; above it saves happen in the background
COALESCE_SECONDS = 0.5


class StateWriter:
    def __init__(self, tenant: SimTenant, path: Path, *, loaded_from_disk: bool) -> None:
        self.tenant = tenant
        self.path = path
        self._write_lock = threading.Lock()
        self._saved_version: int | None = tenant.version if loaded_from_disk else None
        self._written: int | None = None
        self._wake = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None

    @property
    def dirty(self) -> bool:
        return self._saved_version != self.tenant.version or not self.path.exists()

    def save(self) -> None:
        """Write tenant.json now (atomically: temp file then rename)."""
        # Snapshot under the tenant lock, write under the file lock, never one inside the other
        # in that order: Graph handlers call this while holding the tenant lock.
        with self.tenant.lock:
            data = self.tenant.to_dict()
            version = self.tenant.version
        text = json.dumps(data, separators=(",", ":"))
        with self._write_lock:
            if self._written is not None and version < self._written and self.path.exists():
                return  # a newer snapshot is already on disk
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, self.path)
            self._written = version
            self._saved_version = version

    def changed(self) -> None:
        """Called after every mutation through Graph."""
        size = (
            len(self.tenant.role_assignments)
            + len(self.tenant.assignment_schedules)
            + len(self.tenant.eligibility_schedules)
            + len(self.tenant.service_principals)
            + len(self.tenant.app_role_assignments)
        )
        if size <= SYNC_SAVE_LIMIT:
            self.save()
            return
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="simulator-state-writer", daemon=True
            )
            self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while not self._closing:
            self._wake.wait()
            self._wake.clear()
            if self._closing:
                return
            time.sleep(COALESCE_SECONDS)  # let a burst of removals land in one write
            if self.dirty:
                self.save()

    def close(self) -> None:
        """Stop the background writer and flush whatever is not on disk yet."""
        self._closing = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self._closing = False
        if self.dirty:
            self.save()
