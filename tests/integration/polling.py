"""Waiting for what a real worker does in its own process."""

from __future__ import annotations

import time

import pytest


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.2):
    """Poll until `predicate` returns something truthy; fail the test with its docstring."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {predicate.__doc__ or predicate}")
