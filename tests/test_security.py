"""Production security settings, the Content-Security-Policy, CSRF on every form, and the lockout
of repeated failed password sign-ins."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from tests.factories import ADMIN, PASSWORD, make_admin

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
# Email bodies are not pages: mail clients need inline styles, and no CSP applies to them.
EMAIL_TEMPLATES = TEMPLATES / "reviews" / "email"


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "AZURE_", "SECURE_", "SITE_URL", "DATABASE_URL"))
    }
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(60),
        ALLOWED_HOSTS="spreview.example.com",
        SITE_URL="https://spreview.example.com",
        SPREVIEW_VAR_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def page_templates(include_email: bool = False) -> list[Path]:
    return [
        path
        for path in sorted(TEMPLATES.rglob("*.html"))
        if include_email or EMAIL_TEMPLATES not in path.parents
    ]


# ----- production settings ---------------------------------------------------------------------


@pytest.mark.slow  # starts Django in its own process
def test_deploy_check_passes_without_warnings_in_production(tmp_path):
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env(tmp_path)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = production_env(tmp_path)
    del env["SECRET_KEY"]
    result = run(["manage.py", "check"], env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


@pytest.mark.parametrize(
    "key",
    [
        "spreview-insecure-demo-key-never-use-in-production",  # the demo's, in this repository
        "django-insecure-" + "k3y!" * 12,  # startproject's placeholder
        "short-but-random-Q8f2",
        "a" * 60,
    ],
    ids=["demo", "django-insecure", "short", "repetitive"],
)
def test_production_refuses_to_start_with_a_published_or_weak_secret_key(tmp_path, key):
    result = run(["manage.py", "check"], production_env(tmp_path, SECRET_KEY=key))
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY" in result.stderr
    assert key not in result.stderr  # the message names the setting, never the key


def test_production_refuses_the_demo_key_from_a_secret_key_file(tmp_path):
    key_file = tmp_path / "secret_key"
    key_file.write_text("spreview-insecure-demo-key-never-use-in-production\n")
    env = production_env(tmp_path, SECRET_KEY_FILE=str(key_file))
    del env["SECRET_KEY"]
    result = run(["manage.py", "check"], env)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is a published demo key" in result.stderr


@pytest.mark.slow  # starts Django in its own process
def test_the_demo_keeps_its_fixed_key_with_debug_on(tmp_path):
    env = production_env(tmp_path, DEBUG="true")
    del env["SECRET_KEY"]
    result = run(["manage.py", "check"], env)
    assert result.returncode == 0, result.stderr


COMPOSE_VALUE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


def compose_app_environment() -> dict[str, str]:
    """The app containers' environment in docker-compose.yml (the `x-app` anchor) as compose
    resolves it with nothing set: `${X:-default}` gives the default, `${X:?…}` is what the
    operator must provide (None here)."""
    lines = (ROOT / "docker-compose.yml").read_text().splitlines()
    start = next(n for n, line in enumerate(lines) if line.strip() == "environment: &app-env")
    indent = len(lines[start + 1]) - len(lines[start + 1].lstrip())
    found: dict[str, str | None] = {}
    for line in lines[start + 1 :]:
        if line.strip() and len(line) - len(line.lstrip()) < indent:
            break
        if not line.strip() or line.strip().startswith("#"):
            continue
        name, _, raw = line.strip().partition(":")
        raw = raw.strip().strip("\"'")
        required = [m for m in COMPOSE_VALUE.finditer(raw) if m.group(2) == "?"]
        found[name] = None if required else COMPOSE_VALUE.sub(lambda m: m.group(3) or "", raw)
    return found


def test_compose_environment_reader_sees_the_stack_as_compose_does():
    compose = compose_app_environment()
    assert compose["DEBUG"] == "false"
    assert compose["SECRET_KEY"] is None  # compose refuses to start without one
    assert compose["ALLOWED_HOSTS"] == "localhost,127.0.0.1"
    assert compose["SECURE_PROXY_SSL_HEADER"] == ""


@pytest.mark.slow  # starts Django in its own process
def test_deploy_check_passes_with_the_docker_compose_defaults(tmp_path):
    compose = compose_app_environment()
    env = production_env(tmp_path)
    for name in ("ALLOWED_HOSTS", "SITE_URL"):
        del env[name]
    env.update({name: value for name, value in compose.items() if value is not None})
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


PRODUCTION_HEADERS = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
from django.test.utils import override_settings, setup_test_environment
setup_test_environment()
# Hashed static names need collectstatic's manifest; the headers do not depend on them.
override_settings(STORAGES={**settings.STORAGES, "staticfiles": {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}).enable()
client = Client(HTTP_HOST="spreview.example.com")
plain = client.get("/accounts/login/")
secure = client.get("/accounts/login/", secure=True)
print(json.dumps({
    "plain_status": plain.status_code,
    "plain_location": plain.get("Location", ""),
    "status": secure.status_code,
    "headers": dict(secure.headers),
    "cookies": {name: dict(morsel) for name, morsel in secure.cookies.items()},
}))
"""


@pytest.fixture(scope="module")
def production_response(tmp_path_factory):
    result = run(["-c", PRODUCTION_HEADERS], production_env(tmp_path_factory.mktemp("prod")))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_redirects_plain_http_to_https(production_response):
    assert production_response["plain_status"] == 301
    assert production_response["plain_location"] == "https://spreview.example.com/accounts/login/"


def test_production_sends_hsts_and_locks_down_framing_and_sniffing(production_response):
    headers = production_response["headers"]
    assert production_response["status"] == 200
    hsts = headers["Strict-Transport-Security"]
    max_age = int(re.search(r"max-age=(\d+)", hsts).group(1))
    assert max_age >= 365 * 24 * 3600
    assert "includeSubDomains" in hsts
    assert "preload" in hsts
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"


def test_production_cookies_are_secure(production_response):
    csrf = production_response["cookies"]["csrftoken"]
    assert csrf["secure"] is True
    assert csrf["samesite"] == "Lax"


@pytest.mark.slow  # starts Django in its own process
def test_production_uses_a_tls_proxy_header_only_when_told(tmp_path):
    probe = (
        "import django; django.setup(); from django.conf import settings; "
        "print(getattr(settings, 'SECURE_PROXY_SSL_HEADER', None), settings.SECURE_SSL_REDIRECT)"
    )
    plain = run(["-c", probe], production_env(tmp_path))
    assert plain.stdout.split() == ["None", "True"]
    proxied = run(
        ["-c", probe],
        production_env(tmp_path, SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto"),
    )
    assert "('HTTP_X_FORWARDED_PROTO', 'https')" in proxied.stdout


# ----- Content-Security-Policy ------------------------------------------------------------------


def directives(header: str) -> dict[str, list[str]]:
    found = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            found[words[0]] = words[1:]
    return found


@pytest.mark.django_db
def test_pages_carry_a_policy_without_inline_script_or_style(client, settings):
    settings.AZURE_AUTHORITY_HOST = "https://login.microsoftonline.com"
    response = client.get(reverse("login"))
    policy = directives(response.headers["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert "'self'" in policy["form-action"]
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.slow  # starts Django in its own process
def test_sign_out_may_continue_to_the_entra_authority(tmp_path):
    probe = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['form-action'])"
    )
    result = run(
        ["-c", probe], production_env(tmp_path, AZURE_AUTHORITY_HOST="https://sim.example:8443")
    )
    assert "https://sim.example:8443" in result.stdout


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[^>]*\sstyle\s*=", re.IGNORECASE)
STYLE_BLOCK = re.compile(r"<style\b", re.IGNORECASE)
JS_URL = re.compile(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)


def inline_code(html: str, *, styles: bool = True) -> list[str]:
    problems = []
    for pattern in (
        INLINE_SCRIPT,
        EVENT_HANDLER,
        JS_URL,
        *((STYLE_ATTRIBUTE, STYLE_BLOCK) if styles else ()),
    ):
        problems += [m.group(0)[:80] for m in pattern.finditer(html)]
    return problems


@pytest.mark.parametrize(
    "path", page_templates(include_email=True), ids=lambda p: str(p.relative_to(TEMPLATES))
)
def test_no_template_holds_inline_script_or_event_handlers(path):
    styles = EMAIL_TEMPLATES not in path.parents
    assert inline_code(path.read_text(), styles=styles) == []


def test_static_files_hold_no_html_with_inline_script():
    for path in (ROOT / "static").rglob("*.html"):
        assert inline_code(path.read_text()) == [], path


def test_inline_code_finder_finds_what_the_policy_blocks():
    assert inline_code("<script>alert(1)</script>")
    assert inline_code('<button onclick="go()">')
    assert inline_code('<p style="color: red">')
    assert inline_code('<a href="javascript:go()">')
    assert inline_code('<script src="/static/vendor/htmx.min.js" defer></script>') == []


# ----- CSRF -------------------------------------------------------------------------------------

FORM = re.compile(r"<form\b[^>]*>.*?</form>", re.IGNORECASE | re.DOTALL)
POST_METHOD = re.compile(r"""method\s*=\s*["']?post""", re.IGNORECASE)


@pytest.mark.parametrize("path", page_templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_every_post_form_carries_a_csrf_token(path):
    for form in FORM.findall(path.read_text()):
        opening = form.split(">", 1)[0]
        if POST_METHOD.search(opening):
            assert "{% csrf_token %}" in form, f"{path}: {opening}>"


def test_htmx_posts_send_the_csrf_token():
    # htmx requests carry the token in a header set on <body> (hx-headers) or inside a form.
    for path in page_templates():
        text = path.read_text()
        for match in re.finditer(r"<[^>]*\bhx-(post|put|patch|delete)=[^>]*>", text):
            inside_form = any(match.group(0) in form for form in FORM.findall(text))
            assert inside_form or "X-CSRFToken" in text, f"{path}: {match.group(0)[:80]}"


@pytest.mark.django_db
def test_a_post_without_csrf_token_is_refused(settings):
    make_admin()
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": ADMIN, "password": PASSWORD})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


# ----- failed password sign-ins -----------------------------------------------------------------


@pytest.fixture
def breakglass(db):
    return get_user_model().objects.create_superuser("breakglass", "bg@example.com", "right-pw")


def attempt(client: Client, password: str, username: str = "breakglass"):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_sixth_failed_password_sign_in_is_locked_out_with_a_clear_message(breakglass):
    client = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(5):
        response = attempt(client, "wrong")
        assert response.status_code == 200
        assert b"Please enter a correct username and password" in response.content
    response = attempt(client, "wrong")
    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.content
    assert b"15 minutes" in response.content
    # Even the right password waits out the lock: a guesser learns nothing from it.
    response = attempt(client, "right-pw")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_lockout_is_per_username_and_address(breakglass):
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(6):
        attempt(attacker, "wrong")
    assert attempt(attacker, "right-pw").status_code == 429
    admin = Client(REMOTE_ADDR="198.51.100.20")
    response = attempt(admin, "right-pw")
    assert response.status_code == 302
    assert admin.session["_auth_user_id"] == str(breakglass.pk)


def test_a_successful_sign_in_resets_the_count(breakglass):
    client = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(4):
        attempt(client, "wrong")
    assert attempt(client, "right-pw").status_code == 302
    client.post(reverse("logout"))
    for _ in range(4):
        assert attempt(client, "wrong").status_code == 200


def test_a_forged_forwarded_for_header_does_not_escape_the_lockout(breakglass):
    # Without TRUSTED_PROXY_COUNT, X-Forwarded-For is the client's word and is not believed.
    for n in range(6):
        client = Client(REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
        attempt(client, "wrong")
    client = Client(REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="192.0.2.99")
    assert attempt(client, "right-pw").status_code == 429
