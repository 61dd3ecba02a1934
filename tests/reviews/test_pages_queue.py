"""A reviewer's queue: reading the evidence, deciding, accepting recommendations, and every way a
decision can be refused without anything being written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from reviews import services
from reviews.models import AuditEvent, Campaign, Cycle, Decision, ReviewItem
from tests.factories import (
    HOSTILE,
    login,
    make_admin,
    make_assignment,
    make_campaign,
    make_cycle_of,
    make_owned_principal,
    make_owner_reviewer,
    make_role,
    make_tenant,
    make_world,
    messages_of,
    pending,
    snapshot,
    start_cycle,
)


@pytest.fixture
def anna(world):
    return login(world.reviewer_a)


def queue_url(world, show: str = "") -> str:
    url = reverse("reviews:queue", args=[world.cycle.pk])
    return f"{url}?show={show}" if show else url


def decide(client, item, decision="revoke", justification="", **extra):
    data = {"decision": decision, "justification": justification, **extra}
    return client.post(reverse("reviews:decide", args=[item.pk]), data, **extra.pop("kw", {}))


# --- reading ---------------------------------------------------------------------------------


def test_queue_shows_the_evidence_for_each_item(world, anna):
    content = anna.get(queue_url(world, "all")).content.decode()
    assert "Payroll connector" in content
    assert "Global Administrator" in content
    assert "Tenant" in content  # scope label of "/"
    assert "Anna-Reviewer" in content  # owner display name
    assert "deploy secret" in content
    assert "expires " in content  # the secret ends in 10 days
    assert "Never signed in" in content  # recommendation reason of the backup agent
    assert "Recommendation: Revoke" in content
    assert "Recommendation: Approve" in content
    assert "0 of 2 decided" in content
    assert "(required to approve)" in content
    assert "Accept all recommendations" in content


def test_queue_filters_pending_decided_and_all(world, anna):
    services.record_decision(world.items["payroll"].pk, "revoke", "", actor=world.reviewer_a)
    pending_page = anna.get(queue_url(world, "pending")).content.decode()
    assert "Backup agent" in pending_page
    assert "Payroll connector" not in pending_page
    decided_page = anna.get(queue_url(world, "decided")).content.decode()
    assert "Payroll connector" in decided_page
    assert "Backup agent" not in decided_page
    all_page = anna.get(queue_url(world, "all")).content.decode()
    assert "Payroll connector" in all_page and "Backup agent" in all_page
    assert "1 of 2 decided" in all_page


def test_queue_ignores_an_unknown_filter(world, anna):
    response = anna.get(queue_url(world, "'><script>"))
    assert response.status_code == 200
    assert response.context["show"] == "pending"


def test_queue_says_when_everything_is_decided(world, anna):
    services.accept_recommendations(world.cycle.pk, actor=world.reviewer_a)
    content = anna.get(queue_url(world)).content.decode()
    assert "All done" in content
    assert "Accept all recommendations" not in content


def test_queue_escapes_hostile_names_from_graph(db):
    tenant = make_tenant()
    admin = make_admin()
    reviewer = make_owner_reviewer(tenant, "rhea-reviewer")
    reviewer.entra.display_name = HOSTILE
    reviewer.entra.save()
    role = make_role(tenant, f"Role {HOSTILE}")
    principal = make_owned_principal(
        tenant,
        HOSTILE,
        owners=[reviewer],
        app_id=HOSTILE,
        sp_type=HOSTILE,
        credentials=[{"kind": HOSTILE, "displayName": HOSTILE, "end": HOSTILE}],
    )
    make_assignment(principal, role, directory_scope_id=f"/administrativeUnits/{HOSTILE}")
    cycle = start_cycle(make_campaign(tenant, admin, reviewers=[reviewer], description=HOSTILE))
    content = login(reviewer).get(reverse("reviews:queue", args=[cycle.pk])).content.decode()
    assert HOSTILE not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content


# --- deciding --------------------------------------------------------------------------------


def test_reviewer_approves_with_a_justification(world, anna):
    item = world.items["payroll"]
    events = AuditEvent.objects.count()
    response = decide(anna, item, "approve", "Runs the nightly payroll export")
    assert response.status_code == 302
    assert response["Location"] == queue_url(world, "pending") + f"#item-{item.pk}"
    item.refresh_from_db()
    assert item.decision == Decision.APPROVE
    assert item.justification == "Runs the nightly payroll export"
    assert item.decided_by == world.reviewer_a
    assert AuditEvent.objects.count() == events + 1
    assert AuditEvent.objects.latest("pk").action == "reviews.decision.approve"
    page = anna.get(response["Location"])
    assert "Payroll connector · Global Administrator: Approve" in messages_of(page)


def test_reviewer_keeps_the_filter_they_were_looking_at(world, anna):
    item = world.items["payroll"]
    response = decide(anna, item, "revoke", show="all")
    assert response["Location"] == queue_url(world, "all") + f"#item-{item.pk}"


def test_reviewer_may_revoke_without_a_justification_when_only_approval_needs_one(world, anna):
    item = world.items["payroll"]
    decide(anna, item, "revoke")
    item.refresh_from_db()
    assert item.decision == Decision.REVOKE


def test_reviewer_changes_a_decision_until_the_end(world, anna):
    item = world.items["payroll"]
    decide(anna, item, "revoke")
    decide(anna, item, "approve", "Checked with the payroll team")
    decide(anna, item, "dont_know")
    item.refresh_from_db()
    assert item.decision == Decision.DONT_KNOW
    actions = list(
        AuditEvent.objects.filter(item_id=item.pk).order_by("pk").values_list("action", flat=True)
    )
    assert actions == [
        "reviews.decision.revoke",
        "reviews.decision.approve",
        "reviews.decision.dont_know",
    ]


def test_decided_item_shows_who_decided(world, anna):
    decide(anna, world.items["payroll"], "revoke")
    content = anna.get(queue_url(world, "decided")).content.decode()
    assert "Decided by anna-reviewer@contoso.example" in content


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"decision": "approve", "justification": "   "}, "A justification is required to approve"),
        ({"decision": "delete"}, "Choose approve, revoke or don't know."),
        ({"decision": ""}, "Choose approve, revoke or don't know."),
        ({}, "Choose approve, revoke or don't know."),
        ({"decision": "revoke", "justification": "x" * 2001}, "The justification is too long"),
        ({"decision": "pending"}, "Choose approve, revoke or don't know."),
    ],
    ids=["approve-without-reason", "unknown", "empty", "missing", "too-long", "pending"],
)
def test_bad_decisions_are_refused_with_a_message_and_write_nothing(world, anna, data, message):
    item = world.items["payroll"]
    before = snapshot()
    response = anna.post(reverse("reviews:decide", args=[item.pk]), data, follow=True)
    assert response.status_code == 200
    assert any(message in m for m in messages_of(response)), messages_of(response)
    assert snapshot() == before
    assert pending(item)


def test_every_decision_needs_a_justification_when_the_campaign_says_so(db):
    world = make_world(justification=Campaign.Justification.ALWAYS)
    anna = login(world.reviewer_a)
    before = snapshot()
    response = decide(anna, world.items["payroll"], "revoke")
    assert (
        "A justification is required for every decision" in messages_of(anna.get(response.url))[0]
    )
    assert snapshot() == before
    assert "(required)" in anna.get(queue_url(world)).content.decode()


def test_a_forged_item_id_is_not_found(world, anna):
    before = snapshot()
    assert decide(anna, world.items["crm"], "revoke").status_code == 404  # B's item
    assert (
        anna.post(reverse("reviews:decide", args=[10**9]), {"decision": "revoke"}).status_code
        == 404
    )
    assert snapshot() == before


def test_decision_after_the_cycle_ended_is_refused(world, anna):
    services.stop_cycle(world.cycle.pk, actor=world.admin)
    before = snapshot()
    # The reviewer still has the old page open and submits it.
    response = decide(anna, world.items["payroll"], "revoke", show="pending")
    assert response.status_code == 302
    page = anna.get(response["Location"])
    assert any("This review has ended" in m for m in messages_of(page))
    assert snapshot() == before


def test_decision_after_the_end_date_is_refused_even_before_the_tick_closes_it(world, anna):
    Cycle.objects.filter(pk=world.cycle.pk).update(ends_at=timezone.now() - timedelta(minutes=1))
    before = snapshot()
    page = anna.post(
        reverse("reviews:decide", args=[world.items["payroll"].pk]),
        {"decision": "revoke"},
        follow=True,
    )
    assert any("This review has ended" in m for m in messages_of(page))
    assert snapshot() == before


def test_ended_cycle_shows_decisions_read_only(world, anna):
    decide(anna, world.items["payroll"], "approve", "Needed for payroll")
    services.stop_cycle(world.cycle.pk, actor=world.admin)
    response = anna.get(queue_url(world))
    content = response.content.decode()
    assert response.context["show"] == "all"
    assert "This review ended" in content
    assert "Needed for payroll" in content
    assert reverse("reviews:decide", args=[world.items["payroll"].pk]) not in content
    assert reverse("reviews:accept_all", args=[world.cycle.pk]) not in content


# --- accepting recommendations -----------------------------------------------------------------


def test_accept_all_decides_the_reviewers_pending_items_as_recommended(world, anna):
    decide(anna, world.items["payroll"], "revoke")
    response = anna.post(reverse("reviews:accept_all", args=[world.cycle.pk]), follow=True)
    assert "Recommendation accepted for 1 item." in messages_of(response)
    payroll, backup = world.items["payroll"], world.items["backup"]
    payroll.refresh_from_db()
    backup.refresh_from_db()
    assert payroll.decision == Decision.REVOKE  # already decided: untouched
    assert backup.decision == Decision.REVOKE  # never signed in → revoke recommended
    assert backup.justification.startswith("Accepted the recommendation")
    # Reviewer B's items are not touched.
    assert pending(world.items["crm"])
    assert pending(world.items["orphan"])


def test_accept_all_with_nothing_pending_says_so(world, anna):
    services.accept_recommendations(world.cycle.pk, actor=world.reviewer_a)
    before = snapshot()
    response = anna.post(reverse("reviews:accept_all", args=[world.cycle.pk]), follow=True)
    assert "Nothing was pending: no decision changed." in messages_of(response)
    assert snapshot() == before


def test_accept_all_after_the_end_is_refused(world, anna):
    services.stop_cycle(world.cycle.pk, actor=world.admin)
    before = snapshot()
    response = anna.post(reverse("reviews:accept_all", args=[world.cycle.pk]), follow=True)
    assert any("This review has ended" in m for m in messages_of(response))
    assert snapshot() == before


# --- htmx ------------------------------------------------------------------------------------


def test_htmx_decision_swaps_the_item_and_the_progress(world, anna):
    item = world.items["payroll"]
    response = anna.post(
        reverse("reviews:decide", args=[item.pk]),
        {"decision": "revoke", "show": "all"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert f'id="item-{item.pk}"' in content
    assert "Decision saved." in content
    assert 'id="queue-progress"' in content and 'hx-swap-oob="true"' in content
    assert "1 of 2 decided" in content
    assert "<html" not in content
    assert pending(item) is False


def test_htmx_refusal_puts_the_message_in_the_card_and_saves_nothing(world, anna):
    item = world.items["payroll"]
    before = snapshot()
    response = anna.post(
        reverse("reviews:decide", args=[item.pk]),
        {"decision": "approve"},
        headers={"HX-Request": "true"},
    )
    # 200: htmx swaps the card with the message; a 4xx would be a failed request in the console.
    assert response.status_code == 200
    content = response.content.decode()
    assert 'role="alert"' in content and "A justification is required to approve" in content
    assert snapshot() == before


def test_queue_page_loads_htmx_only_while_deciding_is_possible(world, anna):
    assert b"vendor/htmx.min.js" in anna.get(queue_url(world)).content
    services.stop_cycle(world.cycle.pk, actor=world.admin)
    assert b"vendor/htmx.min.js" not in anna.get(queue_url(world)).content


# --- pages ---------------------------------------------------------------------------------


def _queue_page(client, cycle, **params):
    return client.get(reverse("reviews:queue", args=[cycle.pk]), params)


def _queue_location(cycle, query: str) -> str:
    return f"{reverse('reviews:queue', args=[cycle.pk])}?{query}"


def _names(response) -> list[str]:
    return [item.principal_name for item in response.context["items"]]


def test_second_page_shows_the_next_50_items(db):
    _, reviewer, cycle = make_cycle_of(120)
    client = login(reviewer)
    first = _queue_page(client, cycle, show="all")
    second = _queue_page(client, cycle, show="all", page="2")
    assert _names(first) == [f"App 120-{n:04d}" for n in range(50)]
    assert _names(second) == [f"App 120-{n:04d}" for n in range(50, 100)]
    content = second.content.decode()
    assert "Page 2 of 3" in content
    assert "App 120-0049" not in content


def test_progress_and_accept_all_cover_every_page(db):
    _, reviewer, cycle = make_cycle_of(120)
    content = _queue_page(login(reviewer), cycle, show="pending", page="3").content.decode()
    assert "3 of 120 decided" in content
    assert "Accept all recommendations (every pending item, on all pages)" in content


def test_page_links_keep_the_filter(db):
    _, reviewer, cycle = make_cycle_of(120)
    client = login(reviewer)
    content = _queue_page(client, cycle, show="pending").content.decode()
    assert 'href="?show=pending&amp;page=2"' in content
    second = _queue_page(client, cycle, show="pending", page="2")
    assert second.context["show"] == "pending"
    assert 'href="?show=pending&amp;page=3"' in second.content.decode()
    assert 'href="?show=pending&amp;page=1"' in second.content.decode()
    assert all(item.decision == Decision.PENDING for item in second.context["items"])
    assert len(second.context["items"]) == 50  # 117 pending: 50, 50, 17


@pytest.mark.parametrize(
    ("page", "shown"),
    [("99", 3), ("4", 3), ("0", 3), ("-1", 3), ("abc", 1), ("", 1), ("2.5", 1), ("1e3", 1)],
)
def test_a_page_out_of_range_shows_the_last_and_garbage_the_first(db, page, shown):
    _, reviewer, cycle = make_cycle_of(120)
    response = _queue_page(login(reviewer), cycle, show="all", page=page)
    assert response.status_code == 200
    assert response.context["page"].number == shown


def test_deciding_returns_to_the_same_page(db):
    _, reviewer, cycle = make_cycle_of(120)
    client = login(reviewer)
    item = _queue_page(client, cycle, show="all", page="2").context["items"][0]
    response = decide(client, item, "revoke", show="all", page="2")
    assert response["Location"] == _queue_location(cycle, f"show=all&page=2#item-{item.pk}")
    assert item.principal_name in _names(client.get(response["Location"]))


def test_deciding_the_only_item_of_the_last_page_returns_to_the_new_last_page(db):
    _, reviewer, cycle = make_cycle_of(104)  # 101 pending: 50, 50, 1
    client = login(reviewer)
    (item,) = _queue_page(client, cycle, show="pending", page="3").context["items"]
    response = decide(client, item, "revoke", show="pending", page="3")
    assert response["Location"] == _queue_location(cycle, f"show=pending&page=2#item-{item.pk}")


def test_htmx_decision_keeps_the_page_in_the_swapped_form(world, anna):
    response = anna.post(
        reverse("reviews:decide", args=[world.items["payroll"].pk]),
        {"decision": "revoke", "show": "all", "page": "2"},
        headers={"HX-Request": "true"},
    )
    assert '<input type="hidden" name="page" value="2">' in response.content.decode()


def test_accept_all_from_a_later_page_decides_every_pending_item(db):
    _, reviewer, cycle = make_cycle_of(60)  # 57 pending: 50, 7
    client = login(reviewer)
    response = client.post(
        reverse("reviews:accept_all", args=[cycle.pk]), {"show": "pending", "page": "2"}
    )
    assert not ReviewItem.objects.filter(cycle=cycle, decision=Decision.PENDING).exists()
    assert response["Location"] == _queue_location(cycle, "show=pending")
    assert "Recommendation accepted for 57 items." in messages_of(client.get(response["Location"]))


# --- cost ------------------------------------------------------------------------------------


def _queries(client, url: str, expected_items: int) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    assert len(response.context["items"]) == expected_items
    return len(queries)


def test_queue_costs_the_same_number_of_queries_for_5_or_120_items(db):
    _, small_reviewer, small_cycle = make_cycle_of(5)
    _, large_reviewer, large_cycle = make_cycle_of(120)
    small_url = reverse("reviews:queue", args=[small_cycle.pk]) + "?show=all"
    large_url = reverse("reviews:queue", args=[large_cycle.pk]) + "?show=all"
    small = _queries(login(small_reviewer), small_url, 5)
    large = _queries(login(large_reviewer), large_url, 50)
    last = _queries(login(large_reviewer), large_url + "&page=3", 20)
    assert small == large == last
    assert small <= 10, small
