"""The web process's statement timeout, and the 503 page for a query it cancels or a PostgreSQL
that is down (config/database.py)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg2
import pytest
from django.db import OperationalError, connection
from django.db.backends.signals import connection_created
from django.test import RequestFactory
from django.urls import reverse

from config.database import STATEMENT_TIMEOUT_UID, limit_web_statements, server_error
from tests.factories import TENANT_ID, login, make_world

# Statement timeouts that must fire, held locks, a private PostgreSQL started and stopped.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = next(Path("/usr/lib/postgresql").glob("*/bin"), None)


def db_url(name: str | None = None) -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{name or db['NAME']}"


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DB_STATEMENT"))},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# ----- the timeout is the web's, not the workers' ------------------------------------------------

SHOW_TIMEOUT = """
import django
django.setup()
{load}
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SHOW statement_timeout")
    print(cursor.fetchone()[0])
"""


@pytest.mark.django_db
def test_it_gives_web_connections_the_statement_timeout_and_workers_none():
    web = run_python(SHOW_TIMEOUT.format(load="import config.wsgi"), DATABASE_URL=db_url())
    assert web.returncode == 0, web.stderr
    assert web.stdout.split()[-1] == "5s"  # the default, 5000 ms
    tuned = run_python(
        SHOW_TIMEOUT.format(load="import config.wsgi"),
        DATABASE_URL=db_url(),
        DB_STATEMENT_TIMEOUT_MS="250",
    )
    assert tuned.stdout.split()[-1] == "250ms", tuned.stderr
    # A worker or a management command never loads config.wsgi: its statements run to the end.
    worker = run_python(SHOW_TIMEOUT.format(load=""), DATABASE_URL=db_url())
    assert worker.stdout.split()[-1] == "0", worker.stderr


# ----- a statement the timeout cancels ----------------------------------------------------------


@pytest.fixture
def web_timeout(transactional_db, settings):
    """Call it to give this process's connections the web's statement timeout (1 s here), as
    config/wsgi.py does in gunicorn: through a new connection, like every web worker's first."""

    def limit() -> None:
        settings.AZURE_TENANT_ID = TENANT_ID  # the overview then reads the cycles
        settings.DB_STATEMENT_TIMEOUT_MS = 1000
        limit_web_statements()
        connection.close()

    yield limit
    connection_created.disconnect(dispatch_uid=STATEMENT_TIMEOUT_UID)
    connection.close()


@pytest.fixture
def lock_cycles(transactional_db):
    """Call it to have another session hold the cycles table, as a long migration or a stuck
    worker could: the overview's query waits for it until the statement timeout cancels it."""
    holder = psycopg2.connect(db_url())

    def lock() -> None:
        with holder.cursor() as cursor:
            cursor.execute("LOCK TABLE reviews_cycle IN ACCESS EXCLUSIVE MODE")

    yield lock
    holder.rollback()
    holder.close()


def test_a_page_the_statement_timeout_cancels_answers_a_clear_503(web_timeout, lock_cycles, caplog):
    world = make_world()
    admin = login(world.admin)
    web_timeout()
    lock_cycles()
    with caplog.at_level(logging.WARNING, logger="config.database"):
        response = admin.get(reverse("overview"))
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    content = response.content.decode()
    assert "This page took too long" in content
    assert "within 1 second," in content
    assert "HX-Refresh" not in response
    assert [r.getMessage() for r in caplog.records if r.name == "config.database"] == [
        "GET overview cancelled after the 1000 ms statement timeout"
    ]
    # The connection outlives the cancelled statement, still limited.
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "1s"


def test_an_htmx_request_the_timeout_cancels_reloads_the_page(web_timeout, lock_cycles):
    world = make_world()
    admin = login(world.admin)
    web_timeout()
    lock_cycles()
    response = admin.get(reverse("overview"), HTTP_HX_REQUEST="true")
    assert response.status_code == 503
    # htmx does not swap a 5xx; told to refresh, it shows the full page that says why.
    assert response["HX-Refresh"] == "true"
    assert "This page took too long" in response.content.decode()


@pytest.mark.django_db
def test_a_cancelled_statement_outside_a_view_is_a_503_and_anything_else_still_a_500():
    request = RequestFactory().get("/")
    try:
        raise OperationalError("server closed the connection unexpectedly")
    except OperationalError:
        assert server_error(request).status_code == 503
    try:
        raise ValueError("a bug")
    except ValueError:
        assert server_error(request).status_code == 500


# ----- PostgreSQL down ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivatePostgres:
    """A PostgreSQL of the test's own (the machine's is shared and never stopped), run as the
    postgres OS user because initdb refuses root."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="spreview-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        shutil.chown(self.dir, "postgres")

    def _pg(self, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        self._pg(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                 "--no-sync", "-E", "UTF8")  # fmt: skip
        self._pg(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-w",
                 "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
                 "start")  # fmt: skip

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._pg(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture
def private_postgres():
    if PG_BIN is None:
        pytest.skip("no PostgreSQL server binaries in /usr/lib/postgresql")
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)


# A web process (config.wsgi) serving through Django's test client: one page while PostgreSQL is
# up, then, once the test has stopped it, the same pages again.
WEB_PROCESS = """
import json, sys
import django
django.setup()
from django.test.utils import setup_test_environment
setup_test_environment(debug=False)  # production's error pages, not the debug ones
import config.wsgi
from django.contrib.auth import get_user_model
from django.test import Client

def seen(response):
    return {
        "status": response.status_code,
        "retry_after": response.get("Retry-After"),
        "hx_refresh": response.get("HX-Refresh"),
        "body": response.content.decode(),
    }

admin = get_user_model().objects.create_user("ada-admin", password="pw", is_staff=True)
client = Client(raise_request_exception=False)
client.force_login(admin)
print(json.dumps({"up": seen(client.get("/overview/"))}), flush=True)
sys.stdin.readline()  # the test stops PostgreSQL here
print(json.dumps({
    "connection_lost": seen(client.get("/overview/")),
    "connection_refused": seen(client.get("/overview/")),
    "htmx": seen(client.get("/sync/progress/", HTTP_HX_REQUEST="true")),
    "health": seen(Client().get("/healthz")),  # a probe, without a session cookie
}), flush=True)
"""


def test_postgresql_down_answers_a_clear_503_without_touching_the_database(
    private_postgres, tmp_path
):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
        "DATABASE_URL": private_postgres.url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SPREVIEW_VAR_DIR": str(tmp_path),
        "CONN_MAX_AGE": "60",  # as in production: the next request finds its connection dead
    }
    migrated = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert migrated.returncode == 0, migrated.stderr
    web = subprocess.Popen(
        [sys.executable, "-c", WEB_PROCESS],
        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        up = json.loads(web.stdout.readline() or "{}")
        assert up, web.stderr.read() if web.poll() is not None else "no answer"
        assert up["up"]["status"] == 200
        private_postgres.stop()
        out, err = web.communicate("stopped\n", timeout=120)
    finally:
        if web.poll() is None:
            web.kill()
    down = json.loads(out.strip().splitlines()[-1])
    for case in ("connection_lost", "connection_refused", "htmx"):
        page = down[case]
        assert page["status"] == 503, (case, page["body"][:300], err[-2000:])
        assert page["retry_after"] == "30"
        assert "spreview cannot reach its database" in page["body"]
        # Rendered without the request: no user menu, no sign-out form, no session.
        assert "Sign out" not in page["body"]
    assert down["htmx"]["hx_refresh"] == "true"
    assert down["health"]["status"] == 200  # the probe answers without the database
    # Logged by page name (a path may carry an email link's token), without a traceback.
    assert "GET overview: database unavailable" in err
    assert "Traceback" not in err
    assert "/overview/" not in err
