"""Real Celery workers for integration and browser tests: Redis as broker, the test database,
the simulator as Graph. Registered for every test directory by tests/conftest.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def broker():
    url = django_settings.CELERY_BROKER_URL
    if not url.startswith("redis://"):
        pytest.fail("integration tests need CELERY_BROKER_URL=redis://… (make test sets it)")
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()


@pytest.fixture
def worker_env() -> dict[str, str]:
    """Extra environment for the workers; a test module overrides this fixture to add its own."""
    return {}


@pytest.fixture
def start_worker(broker, sim, graph_settings, worker_env, tmp_path):
    """Start real `celery worker` processes wired to the test database and the simulator."""
    workers: list[subprocess.Popen] = []
    db = connection.settings_dict
    env = {
        **os.environ,
        **sim.env(),
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": broker,
        "GRAPH_MAX_BACKOFF_SECONDS": "0.2",
        "TENANT_DISPLAY_NAME": django_settings.TENANT_DISPLAY_NAME,
        "SPREVIEW_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **worker_env,
    }

    def start() -> subprocess.Popen:
        log = open(tmp_path / f"worker-{len(workers)}.log", "w")  # noqa: SIM115
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                f"--hostname=test{len(workers)}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        if worker.poll() is None:
            worker.kill()
        worker.wait(timeout=10)
