"""What the benchmarks share: a database of their own, the simulator in a child process, Django
settings pointed at it, and a count of the statements sent to the database.

Each benchmark names its own database (they truncate tables, so two of them must never share
one); `BENCH_DATABASE_SERVER` names another PostgreSQL server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What `manage.py simulator` prints, one KEY=value line each, for a client to point at it.
ENV_KEYS = (
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_AUTHORITY_HOST",
    "GRAPH_URL",
    "REQUESTS_CA_BUNDLE",
)


def use_database(name: str) -> str:
    """Set up the environment before Django loads: this benchmark's database, production
    settings. Returns the database URL."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Only the server can be overridden: each benchmark keeps its own database, so that two
    # benchmarks running at once never truncate each other's tables.
    server = os.environ.get("BENCH_DATABASE_SERVER", "postgres://postgres@127.0.0.1:5432")
    url = f"{server.rstrip('/')}/{name}"
    os.environ["DATABASE_URL"] = url
    # Production settings: with DEBUG on, Django keeps every SQL statement in memory, which is
    # what a deployment never does and what would make peak memory grow with the tenant.
    os.environ.update(
        DEBUG="false", SECRET_KEY="bench-only-" + "x0123456789" * 5, ALLOWED_HOSTS="localhost"
    )
    return url


def ensure_database(url: str) -> None:
    import psycopg2
    from psycopg2 import sql

    base, name = url.rsplit("/", 1)
    admin = psycopg2.connect(base + "/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin.close()


@contextmanager
def simulator(size: int, seed: int, page_size: int, state_dir: Path):
    """`manage.py simulator` in a child process; yields the settings it prints."""
    command = [
        sys.executable, "manage.py", "simulator", "--state-dir", str(state_dir), "--port", "0",
        "--assignments", str(size), "--seed", str(seed), "--page-size", str(page_size), "--reset",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    env: dict[str, str] = {}
    try:
        while len(env) < len(ENV_KEYS):
            line = process.stdout.readline()
            if not line:
                raise RuntimeError("the simulator exited before printing its settings")
            key, _, value = line.strip().partition("=")
            if key in ENV_KEYS:
                env[key] = value
        yield env
    finally:
        process.terminate()
        process.wait(timeout=60)


def configure(env: dict[str, str]) -> None:
    """Point spreview's Graph settings at the simulator."""
    from django.conf import settings

    os.environ["REQUESTS_CA_BUNDLE"] = env["REQUESTS_CA_BUNDLE"]
    for key in ENV_KEYS:
        if key != "REQUESTS_CA_BUNDLE":
            setattr(settings, key, env[key])


@contextmanager
def count_round_trips():
    """Every statement this thread's connection sends, one round trip each."""
    from django.db import connection

    counter = {"n": 0}

    def wrapper(execute, sql, params, many, context):
        counter["n"] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield counter
