"""Reviews of application permissions beside directory roles: the campaign's scope (privileges,
tier, chosen privileges), the snapshot, recommendations that weigh tier, credentials and
owners, and the words every page, CSV and email uses for a permission."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from reviews import emails, services
from reviews.models import ApplyStatus, Campaign, Cycle, ReviewItem
from tests.factories import (
    HOSTILE,
    TENANT_ID,
    login,
    make_admin,
    make_application,
    make_assignment,
    make_campaign,
    make_grant,
    make_owned_principal,
    make_owner_reviewer,
    make_permission,
    make_role,
    make_tenant,
    make_user,
    owner,
    start_cycle,
)

pytestmark = pytest.mark.django_db

RW_DIRECTORY = "RoleManagement.ReadWrite.Directory"


@dataclass
class Estate:
    tenant: Any
    admin: Any
    reviewer: Any
    roles: dict[str, Any]
    permissions: dict[str, Any]
    principals: dict[str, Any]


def _tiered_role(tenant, name: str, tier: int | None, reason: str = ""):
    role = make_role(tenant, name)
    role.tier, role.tier_reason = tier, reason
    role.save(update_fields=["tier", "tier_reason"])
    return role


def _secret(days_valid: int, **fields) -> dict:
    start = timezone.now() - timedelta(days=30)
    return {
        "kind": "secret",
        "keyId": fields.pop("keyId", "key-long"),
        "displayName": fields.pop("displayName", "ci secret"),
        "start": start.isoformat(),
        "end": (start + timedelta(days=days_valid)).isoformat(),
        **fields,
    }


def estate(**principal_fields: Any) -> Estate:
    """Rita owns two principals: the deploy robot holds Global Administrator, Helpdesk
    Administrator, RoleManagement.ReadWrite.Directory and Mail.Read, and has an app registration
    with two more owners, a two-year secret and a federated credential; the mail reader holds
    Mail.Read and the unclassified Reports.Read.All only."""
    tenant = make_tenant()
    admin = make_admin()
    reviewer = make_owner_reviewer(tenant, "rita-perms")
    roles = {
        "ga": _tiered_role(tenant, "Global Administrator", 0, "Controls the whole tenant."),
        "helpdesk": _tiered_role(tenant, "Helpdesk Administrator", 1, "Resets passwords."),
    }
    permissions = {
        "rw": make_permission(
            tenant, RW_DIRECTORY, tier=0, tier_reason="Can assign itself any directory role."
        ),
        "mail": make_permission(tenant, "Mail.Read", tier=1, tier_reason="Reads every mailbox."),
        "reports": make_permission(tenant, "Reports.Read.All"),
    }
    robot = make_owned_principal(tenant, "Deploy robot", owners=[reviewer], **principal_fields)
    make_application(
        tenant,
        robot,
        owners=[owner("oid-ivan", "Ivan Appowner"), owner("oid-jo", "Jo Appowner")],
        credentials=[_secret(730)],
        federated_credentials=[
            {
                "id": "fic-1",
                "name": "github-deploy",
                "issuer": "https://token.actions.githubusercontent.com",
                "subject": "repo:contoso/deploy:ref:refs/heads/main",
                "audiences": ["api://AzureADTokenExchange"],
            }
        ],
    )
    reader = make_owned_principal(tenant, "Mail reader", owners=[reviewer])
    make_assignment(robot, roles["ga"])
    make_assignment(robot, roles["helpdesk"], kind="eligible", granted_via="pim")
    make_grant(robot, permissions["rw"])
    make_grant(robot, permissions["mail"])
    make_grant(reader, permissions["mail"])
    make_grant(reader, permissions["reports"])
    return Estate(tenant, admin, reviewer, roles, permissions, {"robot": robot, "reader": reader})


def cycle_of(world: Estate, **fields: Any) -> Cycle:
    values = {"reviewers": [world.reviewer], "justification": Campaign.Justification.NONE}
    values.update(fields)
    return start_cycle(make_campaign(world.tenant, world.admin, **values))


def snapshot(cycle: Cycle) -> set[tuple[str, str, str]]:
    return set(cycle.items.values_list("principal_name", "privilege_type", "role_name"))


# --- scope and snapshot -----------------------------------------------------------------------


def test_a_campaign_over_roles_and_permissions_snapshots_both():
    world = estate()
    cycle = cycle_of(world)
    assert snapshot(cycle) == {
        ("Deploy robot", "role", "Global Administrator"),
        ("Deploy robot", "role", "Helpdesk Administrator"),
        ("Deploy robot", "app_permission", RW_DIRECTORY),
        ("Deploy robot", "app_permission", "Mail.Read"),
        ("Mail reader", "app_permission", "Mail.Read"),
        ("Mail reader", "app_permission", "Reports.Read.All"),
    }


def test_a_permission_item_snapshots_its_api_tier_reason_and_grant():
    world = estate()
    cycle = cycle_of(world)
    item = cycle.items.get(role_name=RW_DIRECTORY)
    grant = item.assignment
    assert (item.kind, item.granted_via) == ("app_permission", "app_role")
    assert item.role_assignment_id == grant.role_assignment_id
    assert item.role_object_id == world.permissions["rw"].object_id
    assert item.resource_object_id == world.permissions["rw"].resource_object_id
    assert item.resource_name == "Microsoft Graph"
    assert (item.tier, item.tier_reason) == (0, "Can assign itself any directory role.")
    assert item.directory_scope_id == "/"
    role_item = cycle.items.get(role_name="Global Administrator")
    assert (role_item.privilege_type, role_item.tier) == ("role", 0)
    assert role_item.tier_reason == "Controls the whole tenant."


@pytest.mark.parametrize(
    ("privileges", "kinds", "expected"),
    [
        ("roles", "both", {"Global Administrator", "Helpdesk Administrator"}),
        ("roles", "active", {"Global Administrator"}),
        ("permissions", "both", {RW_DIRECTORY, "Mail.Read", "Reports.Read.All"}),
        # "Assignments" concerns roles: it never hides a permission.
        ("permissions", "eligible", {RW_DIRECTORY, "Mail.Read", "Reports.Read.All"}),
        ("both", "eligible", {"Helpdesk Administrator", RW_DIRECTORY, "Mail.Read",
                              "Reports.Read.All"}),
    ],
)  # fmt: skip
def test_the_privileges_setting_chooses_roles_permissions_or_both(privileges, kinds, expected):
    world = estate()
    cycle = cycle_of(world, privileges=privileges, kinds=kinds)
    assert {name for _p, _t, name in snapshot(cycle)} == expected


def test_tier_0_only_snapshots_only_tier_0_and_leaves_the_unclassified_out():
    world = estate()
    cycle = cycle_of(world, max_tier=0)
    assert snapshot(cycle) == {
        ("Deploy robot", "role", "Global Administrator"),
        ("Deploy robot", "app_permission", RW_DIRECTORY),
    }
    assert set(cycle.items.values_list("tier", flat=True)) == {0}


def test_tier_0_and_1_leaves_out_only_lower_and_unclassified_privileges():
    world = estate()
    cycle = cycle_of(world, max_tier=1)
    names = {name for _p, _t, name in snapshot(cycle)}
    assert names == {"Global Administrator", "Helpdesk Administrator", RW_DIRECTORY, "Mail.Read"}


def test_chosen_privileges_can_be_application_permissions():
    world = estate()
    cycle = cycle_of(
        world, role_scope=Campaign.RoleScope.SELECTED, roles=[world.permissions["mail"]]
    )
    assert snapshot(cycle) == {
        ("Deploy robot", "app_permission", "Mail.Read"),
        ("Mail reader", "app_permission", "Mail.Read"),
    }


def test_the_cycle_keeps_privileges_and_tier_as_they_were_when_it_started():
    world = estate()
    cycle = cycle_of(world, privileges="permissions", max_tier=1)
    assert cycle.frozen_settings["privileges"] == "permissions"
    assert cycle.frozen_settings["max_tier"] == 1
    Campaign.objects.filter(pk=cycle.campaign_id).update(privileges="both", max_tier=None)
    cycle.refresh_from_db()
    assert (cycle.setting("privileges"), cycle.setting("max_tier")) == ("permissions", 1)


# --- recommendations --------------------------------------------------------------------------


def test_an_unused_principal_holding_a_tier_0_permission_is_revoked_with_the_whole_story():
    world = estate(last_sign_in_at=timezone.now() - timedelta(days=120))
    cycle = cycle_of(world, lookback_days=90)
    item = cycle.items.get(role_name=RW_DIRECTORY)
    assert item.recommendation == "revoke"
    reason = item.recommendation_reason
    assert reason.startswith("No sign-in in the last 90 days (last one 120 days ago)")
    assert f"holds {RW_DIRECTORY} on Microsoft Graph (Tier 0)" in reason
    assert "with a secret valid 2 years" in reason
    assert "a secret beside a federated credential" in reason
    assert "2 owners of its app registration and 1 owner of the service principal" in reason


def test_an_active_principal_keeps_its_tier_0_permission_with_the_evidence_to_check():
    world = estate()
    item = cycle_of(world).items.get(role_name=RW_DIRECTORY)
    assert item.recommendation == "approve"
    assert item.recommendation_reason.startswith("Signed in within the last 30 days; check")
    assert "secret valid 2 years" in item.recommendation_reason


def test_a_lower_or_unclassified_privilege_reason_stays_short():
    world = estate()
    item = cycle_of(world).items.get(role_name="Reports.Read.All")
    assert item.recommendation_reason == "Signed in within the last 30 days."


def test_a_federated_credential_means_expired_secrets_do_not_stop_it_signing_in():
    expired = [{"kind": "secret", "end": "2020-01-01T00:00:00Z"}]
    world = estate(credentials=expired)
    item = cycle_of(world).items.get(role_name="Mail.Read", principal_name="Deploy robot")
    assert "expired" not in item.recommendation_reason


# --- the campaign form and pages --------------------------------------------------------------


def _form_data(reviewer, **overrides) -> dict:
    data = {
        "name": "Workload identities",
        "role_scope": "privileged",
        "privileges": "both",
        "max_tier": "",
        "kinds": "both",
        "reviewer_mode": "owners",
        "reviewers": [str(reviewer.pk)],
        "start_now": "on",
        "frequency": "once",
        "duration_days": "14",
        "end_mode": "never",
        "default_decision": "keep",
        "justification": "on_approve",
        "lookback_days": "30",
    }
    data.update(overrides)
    return data


@pytest.fixture
def configured(settings):
    settings.AZURE_TENANT_ID = TENANT_ID


def test_the_campaign_form_lists_permissions_with_their_api(configured):
    world = estate()
    content = login(world.admin).get(reverse("reviews:campaign_new")).content.decode()
    assert f"{RW_DIRECTORY} (Microsoft Graph)" in content
    assert "Roles and application permissions" in content
    assert "Tier 0 only" in content


def test_an_admin_schedules_a_tier_0_permissions_campaign_and_its_page_says_so(configured):
    world = estate()
    fallback = make_user("fay-fallback")
    data = _form_data(fallback, privileges="permissions", max_tier="0")
    response = login(world.admin).post(reverse("reviews:campaign_new"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    campaign = Campaign.objects.get()
    assert (campaign.privileges, campaign.max_tier) == ("permissions", 0)
    services.start_due_cycles()  # what the worker's early tick does
    page = login(world.admin).get(response["Location"]).content.decode()
    assert "Application permissions only, Tier 0 only" in page
    cycle = campaign.cycles.get()
    assert set(cycle.items.values_list("role_name", flat=True)) == {RW_DIRECTORY}
    cycle_page = login(world.admin).get(reverse("reviews:cycle_detail", args=[cycle.pk]))
    assert "Scope: Application permissions only, Tier 0 only" in cycle_page.content.decode()


def test_chosen_permissions_that_the_privileges_setting_excludes_are_refused(configured):
    world = estate()
    data = _form_data(
        make_user("fay-fallback"),
        privileges="roles",
        role_scope="selected",
        roles=[str(world.permissions["rw"].pk)],
    )
    response = login(world.admin).post(reverse("reviews:campaign_new"), data)
    assert response.status_code == 200
    assert "None of the chosen privileges is of the kind this campaign reviews" in (
        response.content.decode()
    )
    assert not Campaign.objects.exists()


def test_the_campaign_form_without_the_new_fields_still_reviews_everything(configured):
    world = estate()
    data = _form_data(make_user("fay-fallback"))
    del data["privileges"], data["max_tier"]
    assert login(world.admin).post(reverse("reviews:campaign_new"), data).status_code == 302
    assert (Campaign.objects.get().privileges, Campaign.objects.get().max_tier) == ("both", None)


# --- the queue: one card per principal --------------------------------------------------------


def test_the_queue_shows_one_card_per_principal_with_a_decision_per_privilege():
    world = estate()
    cycle = cycle_of(world)
    response = login(world.reviewer).get(reverse("reviews:queue", args=[cycle.pk]))
    content = response.content.decode()
    assert [len(card["items"]) for card in response.context["cards"]] == [4, 2]
    assert content.count('class="card principal-card"') == 2
    for item in cycle.items.all():
        assert f'id="item-{item.pk}"' in content
        assert reverse("reviews:decide", args=[item.pk]) in content
    # The evidence, once per card: owners of both objects, credentials, federated, findings.
    assert content.count("Ivan Appowner") == 1
    assert "owns the app registration" in content
    assert "github-deploy" in content
    assert "repo:contoso/deploy:ref:refs/heads/main" in content
    assert "Secret valid 2 years" in content
    # Each privilege names its API or scope and its tier with the reason.
    assert "on Microsoft Graph" in content
    assert "Tier 0: Can assign itself any directory role." in content
    assert "Unclassified" in content


def test_a_decision_on_a_permission_swaps_its_own_block(client):
    world = estate()
    cycle = cycle_of(world)
    item = cycle.items.get(role_name=RW_DIRECTORY)
    response = login(world.reviewer).post(
        reverse("reviews:decide", args=[item.pk]),
        {"decision": "revoke", "show": "pending", "page": "1"},
        HTTP_HX_REQUEST="true",
    )
    content = response.content.decode()
    assert response.status_code == 200
    assert content.lstrip().startswith("<section") or f'id="item-{item.pk}"' in content
    assert "Decision saved." in content
    assert "principal-card" not in content
    assert ReviewItem.objects.get(pk=item.pk).decision == "revoke"


def _principals_with_permissions(world: Estate, count: int) -> None:
    for n in range(count):
        principal = make_owned_principal(world.tenant, f"Extra {n:03d}", owners=[world.reviewer])
        make_application(world.tenant, principal, owners=[owner(f"oid-x{n}", f"X {n}")])
        make_grant(principal, world.permissions["mail"])
        make_assignment(principal, world.roles["ga"])


def test_the_queue_costs_the_same_for_few_and_many_principals(django_assert_max_num_queries):
    world = estate()
    _principals_with_permissions(world, 3)
    small = cycle_of(world, name="small")
    client = login(world.reviewer)
    with django_assert_max_num_queries(15) as few:
        client.get(reverse("reviews:queue", args=[small.pk]), {"show": "all"})
    _principals_with_permissions(world, 20)
    large = cycle_of(world, name="large")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("reviews:queue", args=[large.pk]), {"show": "all"})
    assert len(response.context["cards"]) > 20


def test_hostile_permission_and_api_names_are_escaped_in_the_queue_and_results():
    world = estate()
    hostile = make_permission(world.tenant, HOSTILE, resource_name=HOSTILE, tier=0)
    make_grant(world.principals["reader"], hostile)
    cycle = cycle_of(world)
    for url in (
        reverse("reviews:queue", args=[cycle.pk]),
        reverse("reviews:results", args=[cycle.pk]),
    ):
        client = login(world.reviewer if "queue" in url else world.admin)
        content = client.get(url).content.decode()
        assert HOSTILE not in content, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content, url


# --- results, CSV and emails ------------------------------------------------------------------


def _closed(world: Estate, **fields: Any) -> Cycle:
    cycle = cycle_of(world, **fields)
    item = cycle.items.get(role_name=RW_DIRECTORY)
    services.record_decision(
        item.pk, "revoke", "Nobody deploys with it any more", actor=world.reviewer
    )
    services.stop_cycle(cycle.pk, actor=world.admin)
    return cycle


def test_the_results_page_and_csv_give_privilege_type_api_tier_and_reason():
    world = estate()
    cycle = _closed(world)
    page = login(world.admin).get(reverse("reviews:results", args=[cycle.pk])).content.decode()
    assert "Can assign itself any directory role." in page
    assert "Microsoft Graph" in page
    response = login(world.admin).get(reverse("reviews:results_csv", args=[cycle.pk]))
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    header = rows[0]
    for column in ("privilege type", "API", "tier", "tier reason"):
        assert column in header
    assert header[-1] == "apply result"
    assert rows[-1][0] == "audit chain head"
    records = [dict(zip(header, row, strict=True)) for row in rows[1:-1]]
    permission = next(r for r in records if r["role"] == RW_DIRECTORY)
    assert permission["privilege type"] == "Application permission"
    assert permission["API"] == "Microsoft Graph"
    assert permission["scope"] == "Microsoft Graph"
    assert permission["tier"] == "Tier 0"
    assert permission["tier reason"] == "Can assign itself any directory role."
    role = next(r for r in records if r["role"] == "Global Administrator")
    assert (role["privilege type"], role["API"], role["scope"]) == ("Directory role", "", "Tenant")
    unclassified = next(r for r in records if r["role"] == "Reports.Read.All")
    assert (unclassified["tier"], unclassified["tier reason"]) == ("Unclassified", "")
    # Who can act as the principal: owners of both objects, each credential with its end.
    owners = permission["owners"].split("; ")
    assert any(o.endswith("(service principal)") for o in owners), owners
    assert "ivan appowner@contoso.example (app registration)" in owners and len(owners) == 3
    secret_end = (timezone.now() - timedelta(days=30) + timedelta(days=730)).date().isoformat()
    credentials = permission["credentials"].split("; ")
    assert credentials[0].startswith("secret deploy secret on the service principal, ends ")
    assert credentials[1:] == [
        f"secret ci secret on the app registration, ends {secret_end}",
        "federated credential github-deploy: https://token.actions.githubusercontent.com",
    ]
    reader = next(r for r in records if r["principal"] == "Mail reader")
    assert "app registration" not in reader["credentials"]


def test_the_completion_notice_names_the_permission_its_api_and_tier():
    world = estate()
    cycle = _closed(world)
    mail.outbox.clear()
    assert emails.send_completion_notice(cycle.pk).sent == 1
    (message,) = mail.outbox
    label = f"{RW_DIRECTORY} on Microsoft Graph (Tier 0)"
    assert f"Deploy robot: {label}" in message.body
    assert label in message.alternatives[0][0]


def test_the_failure_notice_names_the_permission_its_api_and_tier():
    world = estate()
    cycle = _closed(world)
    cycle.items.filter(role_name=RW_DIRECTORY).update(
        apply_status=ApplyStatus.FAILED, apply_error_code="Request_BadRequest"
    )
    mail.outbox.clear()
    assert emails.send_failure_notice(cycle.pk, 1).sent == 1
    (message,) = mail.outbox
    assert f"Deploy robot: {RW_DIRECTORY} on Microsoft Graph (Tier 0) (Request_BadRequest)" in (
        message.body
    )


def test_the_cycle_page_counts_permissions_and_names_a_to_do_with_its_grant():
    world = estate()
    cycle = _closed(world)
    item = cycle.items.get(role_name=RW_DIRECTORY)
    item.apply_status = ApplyStatus.MANUAL
    item.apply_error = "Read-only deployment: remove appRoleAssignment X on service principal Y."
    item.save(update_fields=["apply_status", "apply_error"])
    response = login(world.admin).get(reverse("reviews:cycle_detail", args=[cycle.pk]))
    content = response.content.decode()
    assert (response.context["counts"]["permissions"], response.context["counts"]["roles"]) == (
        4,
        2,
    )
    assert "Removals to look at" in content
    assert f"{RW_DIRECTORY} on Microsoft Graph" in content
    assert "remove appRoleAssignment X on service principal Y." in content


def test_the_invitation_lists_permissions_with_their_api_and_tier():
    world = estate()
    mail.outbox.clear()
    cycle = cycle_of(world)
    # Rita, and the two owners of the robot's app registration.
    assert emails.send_invitations(cycle.pk).sent == 3
    (message,) = [m for m in mail.outbox if world.reviewer.email in m.to]
    assert f"- Deploy robot: {RW_DIRECTORY} on Microsoft Graph (Tier 0)" in message.body
    assert "- Mail reader: Reports.Read.All on Microsoft Graph\n" in message.body


def test_the_overview_names_a_permission_with_its_api(settings):
    from reviews.overview import build_overview

    world = estate()
    sharepoint = make_permission(
        world.tenant,
        "Sites.FullControl.All",
        resource_name="Office 365 SharePoint Online",
        resource_app_id="00000003-0000-0ff1-ce00-000000000000",
    )
    make_grant(world.principals["reader"], sharepoint)
    names = {bar.name for bar in build_overview(world.tenant).roles}
    assert "Sites.FullControl.All on Office 365 SharePoint Online" in names
    assert f"{RW_DIRECTORY} on Microsoft Graph" in names
    assert "Global Administrator" in names
