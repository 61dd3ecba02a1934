"""No secret, token or password hash ever leaves where it belongs.

One whole run against the simulator, through the pages and the real tasks (run eagerly): an
admin and a reviewer sign in with Entra ID (msal's auth-code flow, so the authority issues ID,
access and refresh tokens), the admin syncs the tenant (first with a mistyped secret, then
through throttling and a 503), schedules a campaign that starts at once, the reviewer follows
their invitation's link and decides, the admin stops the review and applies it through Graph
(client-credentials tokens; eligible removals refused with 403 at first, then retried). Then
every page is read, CSVs included. With a client secret, and with a certificate.

Everything that run produced is searched: every log record at DEBUG (LOG_LEVEL=DEBUG), every
page and header sent, every email, every audit row, every text column of every table (session
data decoded). None may hold the client secret, the certificate's private key, SECRET_KEY, an
authorization code or token the authority issued, another person's session key, or (outside
auth_user.password) a password hash.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from urllib.parse import quote, quote_plus, urlsplit

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core import mail
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import EntraAccount
from config.celery import app as celery_app
from identities.models import ServicePrincipal, SyncRun
from reviews.models import AuditEvent, Campaign, Cycle, ItemReviewer, ReviewItem
from tests.accounts.test_signin import person_with, pick_user_at_authority
from tests.reviews.apply_helpers import fresh_task_client  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.slow, pytest.mark.django_db]  # whole runs, scanned end to end

TOKEN_FIELDS = ("access_token", "id_token", "refresh_token")


class Everything(logging.Handler):
    """Every record of every logger, formatted with its arguments and traceback."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("entrasim"):
            return  # the simulator is the tenant, not spreview
        self.lines.append(self.format(record))


@pytest.fixture
def every_log_line():
    """As an operator running with LOG_LEVEL=DEBUG sees it: the root logger at DEBUG, the levels
    settings.LOGGING pins (msal and urllib3 would print token requests) kept as configured."""
    handler = Everything()
    root = logging.getLogger()
    loggers = [root] + [
        logger
        for logger in map(logging.getLogger, list(logging.root.manager.loggerDict))
        if not logger.propagate
    ]
    level = root.level
    root.setLevel(logging.DEBUG)
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    root.setLevel(level)
    for logger in loggers:
        logger.removeHandler(handler)


@pytest.fixture
def issued(sim, monkeypatch) -> list[str]:
    """Codes and tokens the authority hands out, read from its own answers as they leave."""
    found: list[str] = []
    authority = sim._login()
    answer_of = authority.handle

    def handle(*args, **kwargs):
        answer = answer_of(*args, **kwargs)
        if isinstance(answer.body, dict):
            found.extend(answer.body[k] for k in TOKEN_FIELDS if answer.body.get(k))
        location = answer.headers.get("Location", "")
        found.extend(re.findall(r"[?&#]code=([^&]+)", location))
        return answer

    monkeypatch.setattr(authority, "handle", handle)
    return found


@pytest.fixture
def eager_tasks():
    """Tasks run in this process when queued: the run is the product's own, minus a broker."""
    before = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = before


class Browser:
    """A test client that keeps every answer it was given, and follows redirects on this site."""

    def __init__(self, pages: list[tuple[str, str]], name: str) -> None:
        self.client = Client()
        self.pages = pages
        self.name = name
        self.session_keys: set[str] = set()

    def _keep(self, response) -> None:
        body = b"".join(response.streaming_content) if response.streaming else response.content
        headers = "\n".join(f"{k}: {v}" for k, v in response.items())
        headers += "\n" + response.cookies.output()
        self.pages.append((self.name, f"{headers}\n\n{body.decode('utf-8', 'replace')}"))
        key = self.client.cookies.get(settings.SESSION_COOKIE_NAME)
        if key is not None and key.value:
            self.session_keys.add(key.value)

    def get(self, path: str, **kwargs):
        response = self.client.get(path, **kwargs)
        self._keep(response)
        return response

    def post(self, path: str, data=None, **kwargs):
        response = self.client.post(path, data or {}, **kwargs)
        self._keep(response)
        return response

    def sign_in(self, sim, user_id: str, next_url: str = "") -> None:
        start = self.get(reverse("signin"), data={"next": next_url} if next_url else None)
        assert start.status_code == 302, start.content[:300]
        callback = urlsplit(pick_user_at_authority(sim, start["Location"], user_id))
        answer = self.get(f"{callback.path}?{callback.query}")
        assert answer.status_code == 302, answer.content[:300]


def run_tasks(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks(execute=True)


def every_table_text() -> Iterator[tuple[str, str]]:
    """(table, row as text) for every row of every table, sessions decoded; the two columns
    that exist to hold a secret (the session key, the password hash) left out."""
    tables = {m._meta.db_table for m in apps.get_models(include_auto_created=True)}
    with connection.cursor() as cursor:
        for table in sorted(tables - {"django_session", "auth_user"}):
            cursor.execute(f'SELECT t::text FROM "{table}" t')
            for (row,) in cursor.fetchall():
                yield table, row
    for session in Session.objects.all():
        yield "django_session", repr(session.get_decoded())
    for user in get_user_model().objects.values():
        user.pop("password")
        yield "auth_user", repr(user)


def where(secret: str, places: list[tuple[str, str]]) -> list[str]:
    """The places a secret appears in, as it is or URL-encoded."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret)}
    return [name for name, text in places if any(form in text for form in forms)]


@pytest.mark.parametrize("credential", ["secret", "certificate"])
def test_a_whole_review_leaves_no_secret_in_logs_pages_emails_or_the_database(
    credential,
    graph_settings,
    settings,
    sim,
    issued,
    eager_tasks,
    fresh_task_client,  # noqa: F811
    every_log_line,
    django_capture_on_commit_callbacks,
):
    settings.SITE_URL = "http://127.0.0.1:8000"  # the redirect URI the app registration names
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    client_secret = settings.AZURE_CLIENT_SECRET
    if credential == "certificate":  # msal signs its assertions with the private key
        settings.AZURE_CLIENT_SECRET = ""
        settings.AZURE_CLIENT_CERTIFICATE_PATH = sim.env("certificate")[
            "AZURE_CLIENT_CERTIFICATE_PATH"
        ]
    pages: list[tuple[str, str]] = []

    # A break-glass account with a real password hash, that no page may show.
    get_user_model().objects.create_superuser("break-glass", "bg@contoso.example", "S3cret pw!")

    admin = Browser(pages, "admin")
    admin.sign_in(sim, person_with(sim, "Admin").user_id)
    wrong_secret = "Wr0ng~secret.for-this-app_" + client_secret[-6:]
    if credential == "secret":
        # A sync with a mistyped secret fails, and says so, without repeating what was typed.
        settings.AZURE_CLIENT_SECRET = wrong_secret
        with run_tasks(django_capture_on_commit_callbacks):
            admin.post(reverse("identities:sync_start"))
        assert SyncRun.objects.get().status == SyncRun.Status.FAILED
        admin.get(reverse("identities:sync"))
        settings.AZURE_CLIENT_SECRET = client_secret
    # Graph throttles and stumbles: retried, and logged.
    sim.faults.throttle(times=2, retry_after=0.1)
    sim.faults.unavailable(times=1)
    with run_tasks(django_capture_on_commit_callbacks):
        assert admin.post(reverse("identities:sync_start")).status_code == 302
    assert ServicePrincipal.objects.exists(), "the sync mirrored nothing"
    admin.get(reverse("identities:sync"))

    # The admin schedules a review of owners that starts now; undecided items are revoked.
    fallback = EntraAccount.objects.get(object_id=person_with(sim, "Admin").user_id).user
    form = {
        "name": "Privileged service principals",
        "role_scope": "privileged",
        "kinds": "both",
        "reviewer_mode": "owners",
        "reviewers": [fallback.pk],
        "start_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        "start_now": "on",
        "frequency": "once",
        "duration_days": "14",
        "end_mode": "never",
        "reminder_days": "",
        "default_decision": "revoke",
        "justification": "none",
        "lookback_days": "30",
    }
    with run_tasks(django_capture_on_commit_callbacks):
        created = admin.post(reverse("reviews:campaign_new"), form)
    assert created.status_code == 302, created.context["form"].errors if created.context else ""
    cycle = Cycle.objects.get(campaign=Campaign.objects.get())
    assert mail.outbox, "no invitation was sent"

    # An owner who can sign in follows the link in their invitation and decides.
    people = {p.user_id for p in sim.tenant.demo_people()}
    link = (
        ItemReviewer.objects.filter(item__cycle=cycle, source="owner")
        .select_related("user__entra")
        .filter(user__entra__object_id__in=people)
        .first()
    )
    assert link is not None, "no owner of a reviewed principal can sign in"
    owner = link.user
    [invitation] = [m for m in mail.outbox if m.to == [owner.email]]
    url = next(w for w in invitation.body.split() if "/reviews/l/" in w)
    reviewer = Browser(pages, "reviewer")
    assert reviewer.get(urlsplit(url).path).status_code == 302
    reviewer.sign_in(sim, owner.entra.object_id, next_url=urlsplit(url).path)
    queue = reviewer.get(urlsplit(url).path)
    assert queue.status_code == 302
    reviewer.get(queue["Location"])
    items = list(ReviewItem.objects.filter(cycle=cycle, reviewer_links__user=owner))
    for n, item in enumerate(items):
        decision = "revoke" if n % 2 else "approve"
        reviewer.post(
            reverse("reviews:decide", args=[item.pk]),
            {"decision": decision, "justification": "checked with the team"},
        )
    reviewer.get(reverse("reviews:my_reviews"))

    # The admin stops the review and applies it: removals through Graph, notices by email.
    # Eligible removals are refused (403) at first, so the failure path runs too; then retried.
    with run_tasks(django_capture_on_commit_callbacks):
        admin.post(reverse("reviews:cycle_stop", args=[cycle.pk]))
    sim.faults.throttle(times=1, retry_after=0.1, path_contains="roleAssignments")
    sim.faults.forbid(path_contains="roleEligibilityScheduleRequests")
    with run_tasks(django_capture_on_commit_callbacks):
        admin.post(reverse("reviews:cycle_apply", args=[cycle.pk]))
    admin.get(reverse("reviews:results", args=[cycle.pk]))
    sim.faults.clear()
    with run_tasks(django_capture_on_commit_callbacks):
        admin.post(reverse("reviews:cycle_retry", args=[cycle.pk]))
    cycle.refresh_from_db()
    assert cycle.items.filter(apply_status__in=("applied", "already_gone")).exists()

    # Every page, as the admin (the reviewer's were read above).
    principal = ServicePrincipal.objects.first()
    for path in (
        reverse("overview"),
        reverse("identities:inventory"),
        reverse("identities:inventory_export"),
        reverse("identities:principal", args=[principal.pk]),
        reverse("identities:sync"),
        reverse("reviews:campaigns"),
        reverse("reviews:campaign_detail", args=[cycle.campaign_id]),
        reverse("reviews:campaign_edit", args=[cycle.campaign_id]),
        reverse("reviews:cycle_detail", args=[cycle.pk]),
        reverse("reviews:results", args=[cycle.pk]),
        reverse("reviews:results_csv", args=[cycle.pk]),
        reverse("reviews:audit"),
        reverse("reviews:audit_csv"),
        reverse("admin:index"),
    ):
        assert admin.get(path).status_code in (200, 302), path

    # What the run produced, and what must not be in it.
    assert len(issued) >= 5, "the authority issued fewer codes and tokens than a run needs"
    key_pem = sim.keys.client_cert_path.read_text()
    key_body = key_pem.split("PRIVATE KEY-----", 1)[1].split("-----END", 1)[0].split()
    secrets = {
        "the client secret": [client_secret, wrong_secret],
        "the certificate's private key": key_body[1:4],
        "SECRET_KEY": [settings.SECRET_KEY],
        "a code or token the authority issued": issued,
        "a password hash": [u.password for u in get_user_model().objects.all() if u.password],
    }
    logs = [("log", line) for line in every_log_line.lines]
    emails = [
        (f"email to {m.to}", "\n".join([m.subject, m.body, *(a for a, _ in m.alternatives)]))
        for m in mail.outbox
    ]
    audit = [("audit", repr(row)) for row in AuditEvent.objects.values()]
    database = list(every_table_text())
    assert logs and emails and audit and database

    found = []
    for what, values in secrets.items():
        for value in values:
            for place in where(value, logs + pages + emails + audit + database):
                found.append(f"{what} in {place}")
    # A session key may be in its own browser's answers (its cookie), nowhere else.
    all_keys = admin.session_keys | reviewer.session_keys
    all_keys |= set(Session.objects.values_list("session_key", flat=True))
    for key in all_keys:
        for place in where(key, logs + emails + audit + database):
            found.append(f"a session key in {place}")
    for browser in (admin, reviewer):
        mine = [page for page in pages if page[0] == browser.name]
        assert any(where(key, mine) for key in browser.session_keys), "the scan misses cookies"
        for key in all_keys - browser.session_keys:
            for place in where(key, mine):
                found.append(f"another person's session key in {place}")
    assert not found, sorted(set(found))


def test_sql_logged_at_debug_never_shows_a_session_key_or_a_password_hash(
    db, settings, every_log_line
):
    """Django's SQL log carries every statement's parameters: the session row written at
    sign-in, the password hash. Neither LOG_LEVEL=DEBUG nor the "django" logger turned up to
    DEBUG (to find a problem) may open it, even with DEBUG's debug cursor on."""
    user = get_user_model().objects.create_user("break-glass", password="S3cret pw!")
    client = Client()
    django_logger = logging.getLogger("django")
    level = django_logger.level
    django_logger.setLevel(logging.DEBUG)
    connection.force_debug_cursor = True  # what DEBUG=True does to every connection
    try:
        response = client.post(
            reverse("login"), {"username": "break-glass", "password": "S3cret pw!"}
        )
        client.get(reverse("reviews:my_reviews"))
    finally:
        connection.force_debug_cursor = False
        django_logger.setLevel(level)
    assert response.status_code == 302
    user.refresh_from_db()
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    logs = [("log", line) for line in every_log_line.lines]
    assert where(key, logs) == [] and where(user.password, logs) == []
