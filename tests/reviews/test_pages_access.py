"""Who may see and do what on the review pages: admin, auditor, two reviewers, an outsider and
an anonymous visitor, against every URL; a refused request writes nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from reviews.models import Campaign, Cycle
from tests.factories import login, make_campaign, make_user, make_world, snapshot, start_cycle

PERSONAS = ("admin", "auditor", "reviewer_a", "reviewer_b", "outsider", "anonymous")


@pytest.fixture
def world(db, settings):
    settings.AZURE_TENANT_ID = "11111111-1111-1111-1111-111111111111"
    return make_world()


def client_for(world, persona: str):
    return login(None if persona == "anonymous" else getattr(world, persona))


def url(world, name: str) -> str:
    cycle, campaign = world.cycle, world.campaign
    args = {
        "campaigns": [],
        "campaign_new": [],
        "my_reviews": [],
        "audit": [],
        "audit_csv": [],
        "campaign_detail": [campaign.pk],
        "campaign_edit": [campaign.pk],
        "campaign_pause": [campaign.pk],
        "campaign_resume": [campaign.pk],
        "decide": [world.items["payroll"].pk],
        "accept_all": [cycle.pk],
    }.get(name, [cycle.pk])
    return reverse(f"reviews:{name}", args=args)


# Expected status of a GET, per persona in PERSONAS order.
READER = (200, 200, 403, 403, 403, 302)
ADMIN_ONLY = (200, 403, 403, 403, 403, 302)
GET_MATRIX = {
    "campaigns": READER,
    "campaign_detail": READER,
    "cycle_detail": READER,
    "results": READER,
    "results_csv": READER,
    "audit": READER,
    "audit_csv": READER,
    "campaign_new": ADMIN_ONLY,
    "campaign_edit": ADMIN_ONLY,
    # A queue is personal: only those with items in the cycle see it, whatever their role.
    "queue": (404, 404, 200, 200, 404, 302),
    "my_reviews": (200, 200, 200, 200, 200, 302),
}
ADMIN_POSTS = (
    "campaign_pause",
    "campaign_resume",
    "campaign_edit",
    "campaign_new",
    "cycle_stop",
    "cycle_reset",
    "cycle_remind",
    "cycle_apply",
    "cycle_retry",
)
POST_ONLY = (
    "campaign_pause",
    "campaign_resume",
    "cycle_stop",
    "cycle_reset",
    "cycle_remind",
    "cycle_apply",
    "cycle_retry",
    "decide",
    "accept_all",
)


@pytest.mark.parametrize("name", sorted(GET_MATRIX))
@pytest.mark.parametrize("index", range(len(PERSONAS)), ids=PERSONAS)
def test_get_answers_each_persona_as_expected(world, name, index):
    persona = PERSONAS[index]
    response = client_for(world, persona).get(url(world, name))
    assert response.status_code == GET_MATRIX[name][index], (name, persona)
    if persona == "anonymous":
        assert response["Location"].startswith(reverse("login") + "?next=")


@pytest.mark.parametrize("name", ADMIN_POSTS)
@pytest.mark.parametrize("persona", ["auditor", "reviewer_a", "reviewer_b", "outsider"])
def test_only_admins_may_post_admin_actions(world, mailoutbox, name, persona):
    before = snapshot()
    statuses = (world.campaign.status, world.cycle.status)
    response = client_for(world, persona).post(url(world, name), {"name": "Hijacked"})
    assert response.status_code == 403
    assert snapshot() == before
    assert Campaign.objects.filter(name="Hijacked").count() == 0
    world.campaign.refresh_from_db()
    world.cycle.refresh_from_db()
    assert (world.campaign.status, world.cycle.status) == statuses
    assert mailoutbox == []


@pytest.mark.parametrize("name", [*ADMIN_POSTS, "decide", "accept_all"])
def test_anonymous_posts_are_sent_to_login_and_write_nothing(world, mailoutbox, name):
    before = snapshot()
    response = client_for(world, "anonymous").post(url(world, name), {"decision": "revoke"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert snapshot() == before
    assert mailoutbox == []


@pytest.mark.parametrize("name", POST_ONLY)
def test_post_only_urls_refuse_get(world, name):
    before = snapshot()
    for persona in ("admin", "reviewer_a"):
        assert client_for(world, persona).get(url(world, name)).status_code == 405
    assert snapshot() == before


@pytest.mark.parametrize("persona", ["admin", "auditor", "reviewer_b", "outsider"])
def test_deciding_an_item_that_is_not_yours_is_not_found_and_writes_nothing(world, persona):
    # Payroll connector is owned by reviewer A only.
    before = snapshot()
    response = client_for(world, persona).post(
        url(world, "decide"), {"decision": "revoke", "justification": "mine now"}
    )
    assert response.status_code == 404
    assert snapshot() == before


@pytest.mark.parametrize("persona", ["admin", "auditor", "outsider"])
def test_accepting_all_without_items_in_the_cycle_is_not_found(world, persona):
    before = snapshot()
    response = client_for(world, persona).post(url(world, "accept_all"))
    assert response.status_code == 404
    assert snapshot() == before


def test_reviewer_sees_only_their_own_items(world):
    content = login(world.reviewer_a).get(url(world, "queue") + "?show=all").content.decode()
    assert "Payroll connector" in content
    assert "Backup agent" in content
    assert "CRM sync" not in content
    assert "Orphan app" not in content

    content = login(world.reviewer_b).get(url(world, "queue") + "?show=all").content.decode()
    assert "CRM sync" in content
    assert "Orphan app" in content  # B is the fallback reviewer of the ownerless principal
    assert "Payroll connector" not in content


def test_reviewer_gets_not_found_for_a_cycle_without_their_items(world):
    other = make_campaign(
        world.tenant,
        world.admin,
        name="Named review",
        reviewer_mode=Campaign.ReviewerMode.NAMED,
        reviewers=[world.reviewer_b],
    )
    cycle = start_cycle(other)
    assert login(world.reviewer_b).get(reverse("reviews:queue", args=[cycle.pk])).status_code == 200
    assert login(world.reviewer_a).get(reverse("reviews:queue", args=[cycle.pk])).status_code == 404


def test_unknown_ids_are_not_found(world):
    missing = Cycle.objects.order_by("-pk").first().pk + 1000
    admin = login(world.admin)
    for name in ("cycle_detail", "results", "results_csv", "queue"):
        assert admin.get(reverse(f"reviews:{name}", args=[missing])).status_code == 404, name
    assert admin.get(reverse("reviews:campaign_detail", args=[99999])).status_code == 404
    assert admin.post(reverse("reviews:cycle_stop", args=[missing])).status_code == 404
    assert login(world.reviewer_a).post(reverse("reviews:decide", args=[99999])).status_code == 404


def test_outsider_has_an_empty_my_reviews_page(world):
    response = login(world.outsider).get(reverse("reviews:my_reviews"))
    assert response.status_code == 200
    assert b"Nothing waits for you" in response.content
    assert world.campaign.name.encode() not in response.content


def test_my_reviews_lists_pending_counts(world):
    response = login(world.reviewer_a).get(reverse("reviews:my_reviews"))
    assert response.status_code == 200
    assert world.campaign.name.encode() in response.content
    assert b"2 pending" in response.content
    assert reverse("reviews:queue", args=[world.cycle.pk]).encode() in response.content


def test_navigation_offers_only_what_the_user_may_open(world):
    reviewer_page = login(world.reviewer_a).get(reverse("reviews:my_reviews")).content.decode()
    assert reverse("reviews:campaigns") not in reviewer_page
    assert reverse("reviews:audit") not in reviewer_page
    assert reverse("identities:inventory") not in reviewer_page
    auditor_page = login(world.auditor).get(reverse("reviews:my_reviews")).content.decode()
    assert reverse("reviews:campaigns") in auditor_page
    assert reverse("reviews:audit") in auditor_page


def test_auditor_is_not_offered_admin_buttons(world):
    auditor = login(world.auditor)
    content = auditor.get(url(world, "cycle_detail")).content.decode()
    assert url(world, "cycle_stop") not in content
    assert url(world, "cycle_remind") not in content
    content = auditor.get(url(world, "campaign_detail")).content.decode()
    assert url(world, "campaign_edit") not in content
    assert url(world, "campaign_pause") not in content
    content = login(world.admin).get(url(world, "cycle_detail")).content.decode()
    assert url(world, "cycle_stop") in content


def test_home_sends_readers_to_the_overview_and_reviewers_to_their_reviews(world):
    assert login(world.auditor).get("/")["Location"] == reverse("overview")
    assert login(world.admin).get("/")["Location"] == reverse("overview")
    assert login(world.reviewer_a).get("/")["Location"] == reverse("reviews:my_reviews")
    assert login(None).get("/")["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    "name", ["identities:inventory", "identities:inventory_export", "identities:sync"]
)
def test_tenant_mirror_pages_are_for_admins_and_auditors_only(world, name):
    assert login(world.reviewer_a).get(reverse(name)).status_code == 403
    assert login(world.outsider).get(reverse(name)).status_code == 403
    assert login(world.auditor).get(reverse(name)).status_code == 200


def test_principal_page_and_sync_progress_are_for_readers_only(world):
    principal = world.items["payroll"].principal
    page = reverse("identities:principal", args=[principal.pk])
    assert login(world.reviewer_a).get(page).status_code == 403
    assert login(world.auditor).get(page).status_code == 200
    poll = reverse("identities:sync_progress")
    assert login(world.outsider).get(poll, headers={"HX-Request": "true"}).status_code == 403


def test_a_user_without_a_role_cannot_use_the_admin_site_data(world):
    # Sanity check of the persona: the outsider has no role at all.
    plain = make_user("plain-user")
    assert login(plain).get(reverse("reviews:campaigns")).status_code == 403
