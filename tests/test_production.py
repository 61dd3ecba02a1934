"""The production image's configuration, started without Docker: the checkout as the image's
build sees it (.dockerignore applied), its static files collected by bin/collect-static (the script
the Dockerfile runs) and the Dockerfile's own gunicorn command, with DEBUG=false and the production
defaults, against the test database. Behind it stands a TLS-terminating proxy, so requests carry
X-Forwarded-Proto as they would in a deployment."""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
HASHED_CSS = re.compile(r"/static/css/app\.[0-9a-f]{12}\.css")
# What Django's debug pages say; none of it may reach a visitor in production.
DEBUG_OUTPUT = ("URLconf", "Traceback", "DEBUG = True", "Django settings", "config.urls")


# What the image holds at its top level: anything new in the checkout is either product (named
# here) or kept out by .dockerignore, decided on purpose.
IMAGE_TOP_LEVEL = {
    "README.md",
    "pyproject.toml",
    "manage.py",
    "bin",
    "config",
    "accounts",
    "identities",
    "reviews",
    "outbox",
    "templates",
    "static",
}


def dockerignore_rules() -> list[re.Pattern[str]]:
    """.dockerignore's patterns as Docker reads them: relative to the checkout, `*` within one
    path segment, `**` across any number; a match excludes everything under it."""
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        assert not pattern.startswith("!"), "exceptions: teach image_tree() about them first"
        regex = ""
        for token in re.split(r"(\*\*/|\*\*|\*|\?)", pattern.strip("/")):
            regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(
                token, re.escape(token)
            )
        rules.append(re.compile(regex))
    return rules


def image_tree(destination: Path) -> Path:
    """A copy of what `COPY . .` puts in the image's /app."""
    rules = dockerignore_rules()

    def ignored(directory: str, names: list[str]) -> set[str]:
        relative = Path(directory).relative_to(ROOT)
        return {
            name
            for name in names
            if any(rule.fullmatch((relative / name).as_posix()) for rule in rules)
        }

    shutil.copytree(ROOT, destination, ignore=ignored, symlinks=True)
    return destination


def dockerfile_command(port: int) -> list[str]:
    """The Dockerfile's CMD, bound to a free local port with two workers (the machine is shared)."""
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    command = json.loads(next(line for line in lines if line.startswith("CMD "))[4:])
    assert command[0] == "gunicorn", command
    command = [sys.executable, "-m", "gunicorn", *command[1:]]
    command[command.index("--bind") + 1] = f"127.0.0.1:{port}"
    command[command.index("--workers") + 1] = "2"
    return command


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Site:
    port: int
    env: dict[str, str]
    app: Path

    def get(self, path: str, *, https: bool = True) -> tuple[int, http.client.HTTPMessage, str]:
        headers = {"Host": f"127.0.0.1:{self.port}"}
        if https:
            headers["X-Forwarded-Proto"] = "https"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            return response.status, response.headers, response.read().decode()
        finally:
            conn.close()


def production_env(scratch: Path) -> dict[str, str]:
    """The environment of the image's web container (docker-compose.yml) with a fresh strong key."""
    db = connection.settings_dict
    env = {
        key: value
        for key, value in os.environ.items()
        # Production defaults only: nothing the test run's own environment may have relaxed.
        # (The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE for Playwright: check --deploy then
        # reports async.E001.)
        if key
        not in {
            "SECURE_SSL_REDIRECT",
            "SECURE_HSTS_SECONDS",
            "SECRET_KEY_FILE",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        }
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        SITE_URL="https://127.0.0.1",
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        STATIC_ROOT=str(scratch / "static"),
        SPREVIEW_VAR_DIR=str(scratch / "var"),
    )
    return env


@pytest.fixture(scope="module")
def site(django_db_setup, tmp_path_factory):
    scratch = tmp_path_factory.mktemp("production")
    app = image_tree(scratch / "app")
    env = production_env(scratch)
    # As in the image's build: no secret is around yet, the script makes up its own.
    build_env = {key: value for key, value in env.items() if key != "SECRET_KEY"}
    collected = subprocess.run(
        [str(app / "bin" / "collect-static")],
        env={**build_env, "PYTHON": sys.executable, "VERBOSITY": "0"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert (scratch / "static" / "staticfiles.json").is_file()

    port = free_port()
    log = scratch / "gunicorn.log"
    with open(log, "w") as out:
        web = subprocess.Popen(
            dockerfile_command(port),
            cwd=app,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    site = Site(port, env, app)
    try:
        deadline = time.monotonic() + 30
        while True:
            if web.poll() is not None:
                pytest.fail(f"gunicorn exited with {web.returncode}:\n{log.read_text()}")
            with suppress(OSError):
                if site.get("/healthz")[0] == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not answer within 30 s:\n{log.read_text()}")
            time.sleep(0.1)
        yield site
    finally:
        with suppress(ProcessLookupError):
            os.killpg(web.pid, signal.SIGTERM)
        try:
            web.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(web.pid, signal.SIGKILL)
            web.wait()


def test_it_serves_the_login_page_with_hashed_static_urls(site):
    status, headers, body = site.get("/accounts/login/")

    assert status == 200, body
    assert HASHED_CSS.search(body), body
    assert "max-age=" in headers["Strict-Transport-Security"]


def test_it_serves_a_hashed_static_file_cached_for_a_year(site):
    css = HASHED_CSS.search(site.get("/accounts/login/")[2]).group()

    status, headers, body = site.get(css)

    assert status == 200
    assert headers["Content-Type"].startswith("text/css")
    assert "immutable" in headers["Cache-Control"]
    max_age = int(re.search(r"max-age=(\d+)", headers["Cache-Control"]).group(1))
    assert max_age >= 365 * 24 * 3600
    assert ".topbar" in body


def test_it_answers_an_unknown_url_with_the_plain_404_page(site):
    status, _, body = site.get("/no-such-page/")

    assert status == 404
    assert "<h1>Not found</h1>" in body
    assert HASHED_CSS.search(body)
    for debug in DEBUG_OUTPUT:
        assert debug not in body


def test_it_answers_an_uncaught_error_with_the_plain_500_page(site):
    # The product has no URL that fails on purpose, and gets none for this test: the error is
    # raised into Django's own handling of an uncaught exception, in a process with the image's
    # settings, which is where DEBUG decides between the debug page and handler500.
    script = (
        "import sys, django\n"
        "django.setup()\n"
        "from django.core.handlers.exception import response_for_exception\n"
        "from django.test import RequestFactory\n"
        "request = RequestFactory().get('/overview/', secure=True, HTTP_HOST='127.0.0.1')\n"
        "try:\n"
        "    raise RuntimeError('a bug in a view')\n"
        "except RuntimeError as exc:\n"
        "    response = response_for_exception(request, exc)\n"
        "print(response.status_code)\n"
        "print(response.content.decode())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=site.app,
        env=site.env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    status, body = done.stdout.split("\n", 1)
    assert status == "500"
    assert "<h1>Something went wrong</h1>" in body
    assert HASHED_CSS.search(body)
    for debug in (*DEBUG_OUTPUT, "a bug in a view", "RuntimeError"):
        assert debug not in body
    assert "RuntimeError: a bug in a view" in done.stderr  # logged, not shown


def test_it_redirects_plain_http_to_https_except_the_health_check(site):
    status, headers, _ = site.get("/accounts/login/", https=False)

    assert status == 301
    assert headers["Location"].startswith("https://")
    assert site.get("/healthz", https=False)[:3:2] == (200, "ok")


def test_its_settings_pass_check_deploy_without_a_warning(site):
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=site.app,
        env=site.env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_its_image_holds_the_product_and_nothing_else(site):
    assert {path.name for path in site.app.iterdir()} == IMAGE_TOP_LEVEL
    assert not (site.app / "identities" / "simulator").exists()
