"""Every URL of the project, for every persona, by GET and by POST, against one explicit table.

tests/reviews/test_pages_access.py looks closely at the review pages (who sees which item, which
buttons are offered); this table is the whole map, sign-in and the tenant mirror included, and
fails as soon as a URL is added without a row here. A refused request must write nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import EntraAccount
from identities.models import SyncRun
from reviews.models import AuditEvent, Campaign, Cycle, ReviewItem
from tests.factories import World, login, make_world
from tests.test_security import inline_code

PERSONAS = ("anonymous", "reviewer_a", "reviewer_b", "auditor", "admin")

# Statuses. LOGIN: a redirect to the sign-in page (with ?next=), never the page itself.
LOGIN = "login"
OK = 200
REDIRECT = 302
BAD = 400
FORBIDDEN = 403
NOT_FOUND = 404
NOT_ALLOWED = 405
UNAVAILABLE = 503

# Rows: URL name → (GET, POST) expected per persona, in PERSONAS order.
READERS = (LOGIN, FORBIDDEN, FORBIDDEN, OK, OK)
ADMIN_ONLY = (LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK)
ADMIN_ACTION = (LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, REDIRECT)
# The other method of a GET-only or POST-only page: sign in first, then 405.
WRONG_METHOD = (LOGIN, NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED)
EVERYONE_SIGNED_IN = (LOGIN, OK, OK, OK, OK)
PUBLIC_NOT_ALLOWED = (NOT_ALLOWED,) * 5

MATRIX: dict[str, tuple[tuple, tuple]] = {
    # Sign-in and sign-out. Entra ID is not configured here (no AZURE_CLIENT_ID): starting a
    # sign-in says so; a callback without a sign-in in progress is refused.
    "home": ((LOGIN, REDIRECT, REDIRECT, REDIRECT, REDIRECT), WRONG_METHOD),
    # The container probe: "ok" to anyone, reading nothing.
    "healthz": ((OK,) * 5, PUBLIC_NOT_ALLOWED),
    "overview": (READERS, WRONG_METHOD),
    "login": (
        (OK, REDIRECT, REDIRECT, REDIRECT, REDIRECT),
        (OK, REDIRECT, REDIRECT, REDIRECT, REDIRECT),
    ),
    "signin": ((UNAVAILABLE,) * 5, PUBLIC_NOT_ALLOWED),
    "signin_callback": ((BAD,) * 5, PUBLIC_NOT_ALLOWED),
    "logout": (PUBLIC_NOT_ALLOWED, (REDIRECT,) * 5),
    "signed_out": ((OK,) * 5, PUBLIC_NOT_ALLOWED),
    # The tenant mirror.
    "identities:inventory": (READERS, WRONG_METHOD),
    "identities:inventory_export": (READERS, WRONG_METHOD),
    "identities:principal": (READERS, WRONG_METHOD),
    "identities:sync": (READERS, WRONG_METHOD),
    # Without HX-Request the poll sends readers to the sync page.
    "identities:sync_progress": (
        (LOGIN, FORBIDDEN, FORBIDDEN, REDIRECT, REDIRECT),
        PUBLIC_NOT_ALLOWED,
    ),
    "identities:sync_start": (WRONG_METHOD, ADMIN_ACTION),
    # Reviews.
    "reviews:my_reviews": (EVERYONE_SIGNED_IN, WRONG_METHOD),
    "reviews:campaigns": (READERS, WRONG_METHOD),
    "reviews:campaign_new": (ADMIN_ONLY, ADMIN_ONLY),  # an empty form comes back with errors
    "reviews:campaign_detail": (READERS, WRONG_METHOD),
    "reviews:campaign_edit": (ADMIN_ONLY, ADMIN_ONLY),
    "reviews:campaign_pause": (WRONG_METHOD, ADMIN_ACTION),
    "reviews:campaign_resume": (WRONG_METHOD, ADMIN_ACTION),
    "reviews:cycle_detail": (READERS, WRONG_METHOD),
    "reviews:cycle_stop": (WRONG_METHOD, ADMIN_ACTION),
    "reviews:cycle_reset": (WRONG_METHOD, ADMIN_ACTION),
    "reviews:cycle_remind": (WRONG_METHOD, ADMIN_ACTION),
    "reviews:cycle_apply": (WRONG_METHOD, ADMIN_ACTION),
    "reviews:cycle_retry": (WRONG_METHOD, ADMIN_ACTION),
    "reviews:results": (READERS, WRONG_METHOD),
    "reviews:results_csv": (READERS, WRONG_METHOD),
    # A queue is personal: only reviewers with items in the cycle see it, whatever their role.
    "reviews:queue": ((LOGIN, OK, OK, NOT_FOUND, NOT_FOUND), WRONG_METHOD),
    "reviews:accept_all": (WRONG_METHOD, (LOGIN, REDIRECT, REDIRECT, NOT_FOUND, NOT_FOUND)),
    # The payroll connector's item is reviewer A's alone.
    "reviews:decide": (WRONG_METHOD, (LOGIN, REDIRECT, NOT_FOUND, NOT_FOUND, NOT_FOUND)),
    # An email's signed link, made out to reviewer A: anyone else signed in is told it is not
    # theirs; it only ever redirects to the queue, whose own check still applies.
    "reviews:link": ((LOGIN, REDIRECT, FORBIDDEN, FORBIDDEN, FORBIDDEN), PUBLIC_NOT_ALLOWED),
    "reviews:audit": (READERS, WRONG_METHOD),
    "reviews:audit_csv": (READERS, WRONG_METHOD),
}

# What a permitted POST sends, so that it really does its work.
PAYLOADS = {
    "reviews:decide": {"decision": "approve", "justification": "Still needed for payroll."},
    "login": {"username": "nobody", "password": "wrong"},
}


def url_names() -> Iterator[tuple[str, URLPattern]]:
    """Every named URL of the project, namespace-qualified; the Django admin site is left to
    its own test below."""

    def walk(patterns, namespace: str) -> Iterator[tuple[str, URLPattern]]:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                if entry.namespace == "admin":
                    continue
                inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                yield from walk(entry.url_patterns, inner)
            elif isinstance(entry, URLPattern) and entry.name:
                yield f"{namespace}{entry.name}", entry

    yield from walk(get_resolver().url_patterns, "")


def args_for(world: World, name: str) -> list:
    """Real objects for each URL's arguments."""
    payroll = world.items["payroll"]
    by_name = {
        "identities:principal": [payroll.principal.pk],
        "reviews:campaign_detail": [world.campaign.pk],
        "reviews:campaign_edit": [world.campaign.pk],
        "reviews:campaign_pause": [world.campaign.pk],
        "reviews:campaign_resume": [world.campaign.pk],
        "reviews:decide": [payroll.pk],
    }
    if name in by_name:
        return by_name[name]
    if name == "reviews:link":
        from reviews.links import make_token

        return [make_token(world.reviewer_a, world.cycle)]
    pattern = dict(url_names())[name]
    return [world.cycle.pk] if pattern.pattern.converters else []


def snapshot() -> dict[str, object]:
    """Everything a refused request must leave as it was."""
    return {
        "audit": AuditEvent.objects.count(),
        "decisions": list(
            ReviewItem.objects.order_by("pk").values_list(
                "pk", "decision", "justification", "apply_status"
            )
        ),
        "campaigns": list(Campaign.objects.order_by("pk").values_list("pk", "status", "name")),
        "cycles": list(Cycle.objects.order_by("pk").values_list("pk", "status")),
        "sync_runs": SyncRun.objects.count(),
        "users": list(
            get_user_model().objects.order_by("pk").values_list("pk", "is_staff", "is_active")
        ),
        "accounts": EntraAccount.objects.count(),
        "groups": list(Group.objects.values_list("name", "user")),
    }


@pytest.fixture
def world(db, settings, queued_syncs):
    settings.AZURE_TENANT_ID = "11111111-1111-1111-1111-111111111111"
    settings.AZURE_CLIENT_ID = ""
    return make_world()


@pytest.fixture
def queued_syncs(monkeypatch):
    calls: list[dict] = []
    monkeypatch.setattr("identities.tasks.sync_tenant.delay", lambda **kw: calls.append(kw))
    return calls


def test_the_table_covers_every_url_of_the_project():
    names = {name for name, _ in url_names()}
    assert names - MATRIX.keys() == set(), "URLs without a row in MATRIX"
    assert MATRIX.keys() - names == set(), "rows for URLs that no longer exist"


def check(world: World, name: str, method: str, expected: tuple) -> list[str]:
    """Ask as each persona in turn; return what differs from the table."""
    path = reverse(name, args=args_for(world, name))
    wrong = []
    for persona, want in zip(PERSONAS, expected, strict=True):
        client = login(None if persona == "anonymous" else getattr(world, persona))
        before = snapshot()
        if method == "GET":
            response = client.get(path)
        else:
            response = client.post(path, PAYLOADS.get(name, {}))
        got = response.status_code
        location = response.get("Location", "")
        if want == LOGIN:
            if got != 302 or not location.startswith(reverse("login") + "?next="):
                wrong.append(f"{method} {name} as {persona}: {got} {location}, want login")
        elif got != want:
            wrong.append(f"{method} {name} as {persona}: {got}, want {want}")
        elif want == REDIRECT and location.startswith(reverse("login")):
            wrong.append(f"{method} {name} as {persona}: sent to sign in, want a page redirect")
        refused = got >= 400 or want == LOGIN
        if (method == "GET" or refused) and snapshot() != before:
            wrong.append(f"{method} {name} as {persona}: wrote to the database ({got})")
        if got == 200 and response.get("Content-Type", "").startswith("text/html"):
            problems = inline_code(response.content.decode())
            if problems:
                wrong.append(f"{method} {name} as {persona}: inline code {problems[:2]}")
    return wrong


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_get_answers_each_persona_as_the_table_says(world, name):
    wrong = check(world, name, "GET", MATRIX[name][0])
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_post_answers_each_persona_as_the_table_says(world, name, mailoutbox):
    wrong = check(world, name, "POST", MATRIX[name][1])
    assert not wrong, "\n".join(wrong)
    assert mailoutbox == []  # even "Send reminders now" only queues them for a worker


def test_admin_and_reviewer_posts_really_act(
    world, queued_syncs, django_capture_on_commit_callbacks
):
    """The REDIRECT rows above are the actions themselves, not a refusal in disguise."""
    admin = login(world.admin)
    admin.post(reverse("reviews:campaign_pause", args=[world.campaign.pk]))
    world.campaign.refresh_from_db()
    assert world.campaign.status == Campaign.Status.PAUSED
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(reverse("identities:sync_start"))
    assert queued_syncs == [{"trigger": "manual", "requested_by_id": world.admin.pk}]
    payroll = world.items["payroll"]
    login(world.reviewer_a).post(
        reverse("reviews:decide", args=[payroll.pk]), PAYLOADS["reviews:decide"]
    )
    payroll.refresh_from_db()
    assert payroll.decision == "approve"


@pytest.mark.parametrize(
    ("persona", "status"),
    [("anonymous", 302), ("reviewer_a", 302), ("auditor", 302), ("admin", 200)],
)
def test_django_admin_site_is_for_admins_only(world, persona, status):
    client = login(None if persona == "anonymous" else getattr(world, persona))
    response = client.get(reverse("admin:index"))
    assert response.status_code == status
    if status == 302:
        assert response["Location"].startswith(reverse("admin:login"))
