"""List pages whose rows grow without bound (a campaign's cycles, the audit log): a page at a
time, in a fixed number of queries, with filters the indexes can answer."""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from reviews import services
from reviews.models import AuditEvent, Cycle
from tests.factories import login, make_admin, make_world


def add_past_cycles(campaign, count: int) -> None:
    first = campaign.cycles.count() + 1
    Cycle.objects.bulk_create(
        Cycle(
            campaign=campaign,
            number=number,
            status=Cycle.Status.APPLIED,
            scheduled_at=campaign.start_at,
            starts_at=campaign.start_at,
            ends_at=campaign.start_at,
        )
        for number in range(first, first + count)
    )


def test_the_campaign_page_shows_its_cycles_a_page_at_a_time_in_a_fixed_number_of_queries(db):
    world = make_world()
    client = login(world.admin)
    url = reverse("reviews:campaign_detail", args=[world.campaign.pk])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    add_past_cycles(world.campaign, 2)
    few = queries()
    add_past_cycles(world.campaign, 42)
    assert queries() == few
    response = client.get(url)
    assert [c.number for c in response.context["cycles"]] == list(range(45, 25, -1))
    assert "Page 1 of 3 · 45 rows" in response.content.decode()
    last = client.get(url + "?page=3").context["cycles"]
    assert [(c.number, c.total) for c in last][-1] == (1, 4)  # the running cycle, with its items


def test_the_audit_log_offers_each_action_code_once_in_order(db):
    world = make_world()
    for key in ("payroll", "backup"):
        services.record_decision(world.items[key].pk, "revoke", "", actor=world.reviewer_a)
    response = login(world.admin).get(reverse("reviews:audit"))
    offered = [value for value, _ in response.context["filter"].form.fields["action"].choices]
    codes = sorted(set(AuditEvent.objects.values_list("action", flat=True)))
    assert offered == ["", *codes]
    assert "reviews.decision.revoke" in codes


def test_the_audit_log_date_filters_are_whole_days_in_the_site_time_zone(db, settings):
    settings.TIME_ZONE = "Europe/Paris"
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    # Both on 10 March in UTC; a day apart in Paris. Inserted as they were (the audit writer
    # stamps events with the present), in a chain of their own.
    AuditEvent.objects.bulk_create(
        AuditEvent(
            at=at,
            action="tests.when",
            actor_label="system",
            summary=summary,
            tenant_id="tests-time-zone",
            seq=seq,
            prev_hash="",
            hash=summary,
        )
        for seq, (summary, at) in enumerate(
            (
                ("late", datetime(2026, 3, 10, 23, 59, 59, tzinfo=paris)),
                ("early", datetime(2026, 3, 11, 0, 0, tzinfo=paris)),
            ),
            start=1,
        )
    )
    client = login(make_admin())

    def shown(**query: str) -> list[str]:
        response = client.get(reverse("reviews:audit"), query)
        assert response.status_code == 200
        return [event.summary for event in response.context["events"]]

    assert shown(until="2026-03-10") == ["late"]
    assert shown(since="2026-03-11") == ["early"]
    assert shown(since="2026-03-10", until="2026-03-10") == ["late"]
    assert shown(since="0001-01-01", until="9999-12-31") == ["early", "late"]
