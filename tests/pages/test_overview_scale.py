"""The overview and the list pages at 20,000 review items, under a statement timeout of a few
hundred milliseconds: what took 282 s at 19,768 items must now be one short query per figure.

The cycle is built once for the module (about 20 s of bulk inserts and the real start_cycle),
inside a transaction that is rolled back at the end; each test runs in a savepoint of its own.
"""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from config.database import set_statement_timeout
from identities.models import ServicePrincipal
from reviews.models import Cycle, ItemReviewer
from tests.factories import TENANT_ID, login

from .large_cycle import decide_some, make_large_cycle

pytestmark = pytest.mark.slow  # builds a 20,000-item cycle (about 20 s)

ITEMS = 20_000
TIMEOUT_MS = 500


@pytest.fixture(scope="module")
def large(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        cycle = make_large_cycle(ITEMS)
        decided = decide_some(cycle.cycle, 0.3)
        # The deferred foreign-key checks of these 100,000 rows, once here, not again in every
        # test's teardown (under its statement timeout).
        connection.check_constraints()
        yield cycle, decided
        transaction.set_rollback(True)


@pytest.fixture
def timeout(db, settings) -> None:
    """The web's statement timeout, short: a statement that outgrows it fails the page."""
    settings.AZURE_TENANT_ID = TENANT_ID
    settings.DB_STATEMENT_TIMEOUT_MS = TIMEOUT_MS
    set_statement_timeout(connection, TIMEOUT_MS)
    # Really in force: a statement longer than the limit is cancelled.
    with (
        pytest.raises(OperationalError, match="statement timeout"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT pg_sleep(%s)", [2 * TIMEOUT_MS / 1000])
    # No reset: the SET belongs to the test's savepoint, whose rollback undoes it.


def test_the_overview_of_20000_items_answers_within_the_statement_timeout(large, timeout):
    data, decided = large
    response = login(data.admin).get(reverse("overview"))
    assert response.status_code == 200, response.content[:500]
    overview = response.context["overview"]
    assert overview.principals == ITEMS
    [running] = overview.running_cycles
    assert (running.total, running.decided) == (ITEMS, decided)
    assert running.uninvited == data.reviewers - data.invited == 2000
    assert "2000 reviewers not invited yet" in response.content.decode()


def test_the_overview_query_count_does_not_grow_with_items_or_cycles(large, timeout):
    data, _ = large
    small = make_large_cycle(10, items_per_reviewer=2)
    client = login(data.admin)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("overview")).status_code == 200
        return len(captured)

    Cycle.objects.filter(pk=data.cycle.pk).update(status=Cycle.Status.COMPLETED)
    only_small = queries()
    Cycle.objects.filter(pk=data.cycle.pk).update(status=Cycle.Status.ACTIVE)
    assert queries() == only_small
    assert small.cycle.status == Cycle.Status.ACTIVE


def test_every_list_page_answers_within_the_statement_timeout(large, timeout):
    data, _ = large
    cycle = data.cycle
    admin = login(data.admin)
    reviewer = login(
        ItemReviewer.objects.filter(item__cycle=cycle).select_related("user").first().user
    )
    principal = ServicePrincipal.objects.filter(tenant=data.tenant).order_by("pk").first()
    pages = [
        (admin, reverse("identities:inventory")),
        (admin, reverse("identities:inventory") + "?sort=-role&per_page=200"),
        (admin, reverse("identities:inventory") + "?page=100"),
        (admin, reverse("identities:inventory") + "?q=App+01&inactive=on"),
        (admin, reverse("identities:principal", args=[principal.pk])),
        (admin, reverse("identities:sync")),
        (admin, reverse("reviews:campaigns")),
        (admin, reverse("reviews:campaign_detail", args=[cycle.campaign_id])),
        (admin, reverse("reviews:cycle_detail", args=[cycle.pk])),
        (admin, reverse("reviews:cycle_detail", args=[cycle.pk]) + "?page=80"),
        (admin, reverse("reviews:results", args=[cycle.pk])),
        (admin, reverse("reviews:results", args=[cycle.pk]) + "?page=200"),
        (admin, reverse("reviews:audit")),
        (reviewer, reverse("reviews:my_reviews")),
        (reviewer, reverse("reviews:queue", args=[cycle.pk]) + "?show=all"),
    ]
    for client, url in pages:
        assert client.get(url).status_code == 200, url


def test_the_cycle_page_shows_its_thousands_of_reviewers_a_page_at_a_time(large, timeout):
    data, _ = large
    url = reverse("reviews:cycle_detail", args=[data.cycle.pk])
    response = login(data.admin).get(url)
    assert len(response.context["per_reviewer"]) == 50
    assert "Page 1 of 80 · 4000 rows" in response.content.decode()
    last = login(data.admin).get(url + "?page=80").context["per_reviewer"]
    assert len(last) == 50
    assert [row["total"] for row in last] == [5] * 50
