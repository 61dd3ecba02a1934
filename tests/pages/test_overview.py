"""The overview: what admins and auditors see first, and who may see it."""

from __future__ import annotations

from datetime import timedelta
from html import escape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from identities.models import Assignment, SyncRun
from reviews import emails, services
from reviews.models import ApplyStatus, EmailDelivery, ReviewItem
from tests.factories import (
    HOSTILE,
    login,
    make_assignment,
    make_campaign,
    make_owner_reviewer,
    make_principal,
    make_role,
    make_run,
    make_world,
    start_cycle,
)


def soon(days: float) -> str:
    return (timezone.now() + timedelta(days=days)).isoformat()


@pytest.fixture
def mirror(tenant, global_admin_role, app_admin_role, reader_role):
    """Five principals with privileged roles, and some that must not be counted."""
    old = timezone.now() - timedelta(days=200)
    rows = {
        "payroll": make_principal(tenant, "Payroll connector"),
        "orphan": make_principal(tenant, "Orphan app", owners=[], owner_count=0),
        "sleepy": make_principal(tenant, "Sleepy job", last_sign_in_at=old),
        "unknown": make_principal(
            tenant, "Unknown activity", sign_in_known=False, last_sign_in_at=None
        ),
        "expiring": make_principal(
            tenant,
            "Expiring cert",
            credentials=[
                {
                    "kind": "certificate",
                    "keyId": "k1",
                    "displayName": "signing cert",
                    "end": soon(5),
                },
                {"kind": "secret", "keyId": "k2", "displayName": "later", "end": soon(200)},
            ],
            next_credential_expiry=timezone.now() + timedelta(days=5),
        ),
        # Not counted: only a non-privileged role; a removed assignment; expires in 60 days.
        "reader": make_principal(tenant, "Reader only", owners=[], owner_count=0),
        "gone": make_principal(tenant, "Removed grant", owners=[], owner_count=0),
    }
    make_assignment(rows["payroll"], global_admin_role)
    make_assignment(rows["payroll"], global_admin_role, kind=Assignment.Kind.ELIGIBLE)
    make_assignment(rows["orphan"], global_admin_role)
    make_assignment(rows["sleepy"], app_admin_role)
    make_assignment(rows["unknown"], app_admin_role)
    make_assignment(rows["expiring"], app_admin_role)
    make_assignment(rows["reader"], reader_role)
    make_assignment(rows["gone"], global_admin_role, removed_at=timezone.now())
    far = make_principal(
        tenant, "Far expiry", next_credential_expiry=timezone.now() + timedelta(days=60)
    )
    make_assignment(far, app_admin_role)
    rows["far"] = far
    return rows


def overview_of(client):
    response = client.get(reverse("overview"))
    assert response.status_code == 200
    return response


def test_admin_sees_figures_that_match_the_mirror(
    as_admin, mirror, global_admin_role, app_admin_role
):
    response = overview_of(as_admin)
    data = response.context["overview"]
    assert data.principals == 6  # payroll, orphan, sleepy, unknown, expiring, far
    assert data.assignments == 7
    assert data.ownerless == 1  # the reader-only and removed ones are not privileged now
    assert data.inactive == 1  # unknown activity is never called inactive
    assert [(bar.name, bar.principals, bar.assignments) for bar in data.roles] == [
        ("Application Administrator", 4, 4),
        ("Global Administrator", 2, 3),
    ]
    assert [bar.width for bar in data.roles] == [100, 50]
    assert data.expiring_count == 1
    assert [e.principal.display_name for e in data.expiring] == ["Expiring cert"]
    assert [c.display_name for c in data.expiring[0].credentials] == ["signing cert"]


def test_counts_link_to_the_inventory_with_the_right_filter(as_admin, mirror, global_admin_role):
    content = overview_of(as_admin).content.decode()
    role_url = reverse("identities:inventory") + f"?role={global_admin_role.pk}"
    assert f'href="{role_url}"' in content
    assert 'href="/inventory/?ownerless=on"' in content
    assert 'href="/inventory/?inactive=on"' in content
    # The links really filter: the inventory behind them shows the principals counted.
    ownerless = as_admin.get("/inventory/?ownerless=on").content.decode()
    assert "Orphan app" in ownerless and "Payroll connector" not in ownerless
    inactive = as_admin.get("/inventory/?inactive=on").content.decode()
    assert "Sleepy job" in inactive and "Unknown activity" not in inactive
    by_role = as_admin.get(role_url).content.decode()
    assert "Orphan app" in by_role and "Sleepy job" not in by_role


def test_the_role_chart_is_an_svg_bar_per_role_inside_an_accessible_table(as_admin, mirror):
    content = overview_of(as_admin).content.decode()
    assert "<caption" in content
    assert content.count('<svg class="bar"') == 2
    assert 'aria-hidden="true"' in content
    assert '<rect class="bar-fill" x="0" y="0" width="50"' in content
    assert "style=" not in content


def test_expiring_credentials_show_a_relative_hint(as_admin, mirror):
    content = overview_of(as_admin).content.decode()
    assert "signing cert" in content
    assert "(in 4 days)" in content or "(in 5 days)" in content
    assert "Far expiry" not in content.split('id="expiring-heading"')[1]


def test_running_cycles_show_progress_and_failed_removals_link_to_their_cycle(db, settings):
    world = make_world()
    items = world.items
    services.record_decision(items["payroll"].pk, "revoke", "", actor=world.reviewer_a)
    ReviewItem.objects.filter(pk=items["crm"].pk).update(apply_status=ApplyStatus.FAILED)
    ReviewItem.objects.filter(pk=items["orphan"].pk).update(apply_status=ApplyStatus.MANUAL)
    make_run(world.tenant, status=SyncRun.Status.FAILED, error_code="Authorization_RequestDenied")

    content = overview_of(login(world.admin)).content.decode()
    cycle_url = reverse("reviews:cycle_detail", args=[world.cycle.pk])
    running = content.split('id="cycles-heading"')[1].split("</section>")[0]
    assert f'href="{cycle_url}"' in running
    assert '<progress max="4" value="1"' in running
    failed = content.split('id="failed-heading"')[1].split("</section>")[0]
    assert "2 removals failed" in failed
    assert f'href="{cycle_url}"' in failed
    assert "Retry is on the cycle page" in failed
    sync = content.split('id="sync-heading"')[1].split("</section>")[0]
    assert "badge-danger" in sync and "Authorization_RequestDenied" in sync
    assert f'href="{reverse("identities:sync")}"' in sync
    # The cycle page behind the link offers the retry.
    assert "Retry failed (2)" in login(world.admin).get(cycle_url).content.decode()


def test_running_cycles_say_how_many_reviewers_were_not_invited_yet(db, settings):
    settings.SITE_URL = "https://spreview.contoso.example"
    world = make_world()  # two reviewers; the invitation task has not run

    def running() -> str:
        content = overview_of(login(world.admin)).content.decode()
        return content.split('id="cycles-heading"')[1].split("</section>")[0]

    assert "2 reviewers not invited yet" in running()
    emails.send_invitations(world.cycle.pk)
    assert "not invited yet" not in running()
    EmailDelivery.objects.filter(recipient=world.reviewer_b).delete()
    assert "1 reviewer not invited yet" in running()
    # The item counts beside it are not multiplied by the reviewers' join.
    assert '<progress max="4" value="0"' in running()


def test_auditor_sees_the_overview_read_only(db):
    world = make_world()
    ReviewItem.objects.filter(pk=world.items["crm"].pk).update(apply_status=ApplyStatus.FAILED)
    content = overview_of(login(world.auditor)).content.decode()
    # The only form on the page is signing out.
    assert content.count("<form") == 1 and reverse("logout") in content
    assert "Retry is on the cycle page" not in content
    assert reverse("reviews:campaign_new") not in content
    assert "Reviews in progress" in content and "Failed removals" in content


def test_reviewers_are_sent_to_their_reviews_and_refused_the_overview(db):
    world = make_world()
    reviewer = login(world.reviewer_a)
    assert reviewer.get(reverse("home"))["Location"] == reverse("reviews:my_reviews")
    assert reviewer.get(reverse("overview")).status_code == 403
    assert login(world.outsider).get(reverse("overview")).status_code == 403
    assert "Overview" not in reviewer.get(reverse("reviews:my_reviews")).content.decode()


def test_anonymous_is_sent_to_sign_in(anonymous):
    response = anonymous.get(reverse("overview"))
    assert response.status_code == 302
    assert response["Location"] == reverse("login") + "?next=" + reverse("overview")


def test_overview_before_the_first_sync_says_what_to_do(as_admin, as_auditor, db):
    content = overview_of(as_admin).content.decode()
    assert "No sync has run yet" in content
    assert "Start the first sync" in content and reverse("identities:sync") in content
    assert "An admin starts the first sync" in overview_of(as_auditor).content.decode()


def test_no_running_review_offers_to_schedule_one(as_admin, mirror):
    content = overview_of(as_admin).content.decode()
    assert "No review is running" in content
    assert reverse("reviews:campaign_new") in content


def test_hostile_names_are_escaped(as_admin, tenant, admin):
    role = make_role(tenant, HOSTILE)
    principal = make_principal(
        tenant,
        HOSTILE,
        owners=[],
        owner_count=0,
        credentials=[{"kind": "secret", "keyId": "k", "displayName": HOSTILE, "end": soon(3)}],
        next_credential_expiry=timezone.now() + timedelta(days=3),
    )
    make_assignment(principal, role)
    campaign = make_campaign(tenant, admin, name=HOSTILE, reviewers=[admin])
    cycle = start_cycle(campaign)
    ReviewItem.objects.filter(cycle=cycle).update(apply_status=ApplyStatus.FAILED)
    make_run(tenant, status=SyncRun.Status.FAILED, error_code=HOSTILE, error_message=HOSTILE)

    content = overview_of(as_admin).content.decode()
    assert HOSTILE not in content
    assert content.count(escape(HOSTILE)) >= 5


def grow(tenant, role, admin, n: int, start: int) -> None:
    """n more principals (with owners, credentials expiring soon) and n more running reviews."""
    for i in range(start, start + n):
        owner = make_owner_reviewer(tenant, f"owner-{i}")
        principal = make_principal(
            tenant,
            f"App {i}",
            owners=[{"id": owner.entra.object_id, "type": "user", "displayName": f"Owner {i}"}],
            credentials=[{"kind": "secret", "keyId": f"k{i}", "end": soon(3)}],
            next_credential_expiry=timezone.now() + timedelta(days=3),
        )
        make_assignment(principal, role)
        make_assignment(principal, make_role(tenant, f"Role {i}"))
        make_run(tenant)
        cycle = start_cycle(make_campaign(tenant, admin, name=f"Review {i}", reviewers=[admin]))
        ReviewItem.objects.filter(cycle=cycle).update(apply_status=ApplyStatus.FAILED)


def queries_for(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        overview_of(client)
    return len(queries)


def test_query_count_does_not_grow_with_principals_or_campaigns(
    as_admin, tenant, global_admin_role, admin
):
    grow(tenant, global_admin_role, admin, 2, 0)
    small = queries_for(as_admin)
    grow(tenant, global_admin_role, admin, 8, 2)
    large = overview_of(as_admin).context["overview"]
    assert len(large.running_cycles) == 10 and large.principals == 10
    assert len(large.failed_by_cycle) == 10
    assert queries_for(as_admin) == small
