"""Campaign pages: the list, the detail, and the form admins schedule reviews with."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from reviews.models import AuditEvent, Campaign
from tests.factories import (
    TENANT_ID,
    login,
    make_admin,
    make_campaign,
    make_role,
    make_tenant,
    make_user,
)


@pytest.fixture(autouse=True)
def _configured_tenant(settings):
    settings.AZURE_TENANT_ID = TENANT_ID


@pytest.fixture
def setup(db):
    tenant = make_tenant()
    roles = {
        "global": make_role(tenant, "Global Administrator"),
        "apps": make_role(tenant, "Application Administrator"),
        "readers": make_role(tenant, "Directory Readers", privileged=False),
    }
    admin = make_admin()
    reviewer = make_user("fay-fallback")
    return tenant, roles, admin, reviewer


def local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def form_data(reviewer, **overrides) -> dict:
    data = {
        "name": "Quarterly privileged SP review",
        "description": "Check every app that can administer the tenant.",
        "role_scope": "privileged",
        "kinds": "both",
        "reviewer_mode": "owners",
        "reviewers": [str(reviewer.pk)],
        "start_at": local(timezone.now() + timedelta(hours=1)),
        "frequency": "quarterly",
        "duration_days": "14",
        "end_mode": "never",
        "end_date": "",
        "end_after_cycles": "",
        "reminder_days": "7, 3",
        "default_decision": "keep",
        "justification": "on_approve",
        "lookback_days": "30",
        "invitation_text": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


NEW = "reviews:campaign_new"


def test_new_campaign_form_offers_only_privileged_roles(setup):
    _tenant, _roles, admin, _reviewer = setup
    content = login(admin).get(reverse(NEW)).content.decode()
    assert "Global Administrator" in content
    assert "Application Administrator" in content
    assert "Directory Readers" not in content
    assert "Start now" in content
    soon = timezone.localtime() + timedelta(minutes=5)
    assert f'name="start_at" value="{soon:%Y-%m-%dT}' in content


def test_new_campaign_page_asks_for_a_sync_first(db):
    admin = make_admin()
    response = login(admin).get(reverse(NEW))
    assert response.status_code == 200
    assert b"Run a sync first" in response.content
    assert b'<form method="post" class="campaign-form"' not in response.content
    response = login(admin).post(reverse(NEW), {"name": "x"})
    assert Campaign.objects.count() == 0


def test_new_campaign_page_asks_for_a_sync_while_the_tenant_was_never_synced(db):
    make_tenant(synced=False)
    response = login(make_admin()).get(reverse(NEW))
    assert b"Run a sync first" in response.content


def test_admin_schedules_a_campaign(setup):
    tenant, roles, admin, reviewer = setup
    data = form_data(
        reviewer,
        role_scope="selected",
        roles=[str(roles["apps"].pk)],
        principal_types=["Application", "ManagedIdentity"],
        reminder_days="3,7, 3",
        auto_apply="on",
    )
    response = login(admin).post(reverse(NEW), data)
    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("reviews:campaign_detail", args=[campaign.pk])
    assert campaign.tenant == tenant
    assert campaign.created_by == admin
    assert list(campaign.roles.all()) == [roles["apps"]]
    assert list(campaign.reviewers.all()) == [reviewer]
    assert campaign.principal_types == ["Application", "ManagedIdentity"]
    assert campaign.reminder_days == [7, 3]
    assert campaign.auto_apply is True
    assert campaign.frequency == "quarterly"
    assert campaign.next_start_at == campaign.start_at
    assert AuditEvent.objects.filter(action="reviews.campaign.created").count() == 1
    page = login(admin).get(response["Location"]).content.decode()
    assert "Quarterly privileged SP review" in page
    assert "Application Administrator" in page
    assert "fay-fallback" in page


def test_start_now_starts_at_once_whatever_the_date_field_says(setup):
    _tenant, _roles, admin, reviewer = setup
    data = form_data(reviewer, start_now="on", start_at="")
    response = login(admin).post(reverse(NEW), data)
    assert response.status_code == 302
    campaign = Campaign.objects.get()
    assert abs((campaign.start_at - timezone.now()).total_seconds()) < 60
    assert campaign.next_start_at <= timezone.now()


@pytest.fixture
def ticks(monkeypatch):
    """`tick.delay` calls, recorded instead of sent (the browser journey sends them for real)."""
    from reviews import tasks

    sent: list[tuple] = []
    monkeypatch.setattr(tasks.tick, "delay", lambda *args: sent.append(args))
    return sent


def test_a_campaign_due_now_asks_a_worker_to_start_it_after_commit(
    setup, ticks, django_capture_on_commit_callbacks
):
    _tenant, _roles, admin, reviewer = setup
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = login(admin).post(reverse(NEW), form_data(reviewer, start_now="on"), follow=True)
    assert len(callbacks) == 1 and ticks == [()]
    assert "its first review is starting" in response.content.decode()


def test_a_campaign_starting_later_waits_for_beat(setup, ticks, django_capture_on_commit_callbacks):
    _tenant, _roles, admin, reviewer = setup
    with django_capture_on_commit_callbacks(execute=True):
        response = login(admin).post(reverse(NEW), form_data(reviewer), follow=True)
    assert ticks == []
    assert "scheduled" in response.content.decode()


def test_an_unreachable_broker_does_not_lose_the_new_campaign(
    setup, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    from kombu.exceptions import OperationalError

    from reviews import tasks

    def down(*args):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.tick, "delay", down)
    _tenant, _roles, admin, reviewer = setup
    with django_capture_on_commit_callbacks(execute=True):
        response = login(admin).post(reverse(NEW), form_data(reviewer, start_now="on"))
    assert response.status_code == 302
    assert Campaign.objects.count() == 1
    assert "beat will start the cycle" in caplog.text


def test_resuming_asks_a_worker_to_start_what_is_due(
    world, ticks, django_capture_on_commit_callbacks
):
    admin = login(world.admin)
    admin.post(reverse("reviews:campaign_pause", args=[world.campaign.pk]))
    assert ticks == []
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(reverse("reviews:campaign_resume", args=[world.campaign.pk]))
    assert ticks == [()]


def test_a_start_a_few_minutes_ago_is_still_accepted(setup):
    _tenant, _roles, admin, reviewer = setup
    data = form_data(reviewer, start_at=local(timezone.now() - timedelta(minutes=3)))
    assert login(admin).post(reverse(NEW), data).status_code == 302


def test_selected_roles_clears_roles_when_scope_is_all_privileged(setup):
    _tenant, roles, admin, reviewer = setup
    data = form_data(reviewer, role_scope="privileged", roles=[str(roles["apps"].pk)])
    login(admin).post(reverse(NEW), data)
    assert Campaign.objects.get().roles.count() == 0


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": ""}, "name", "This field is required."),
        ({"role_scope": "selected"}, "roles", "Choose at least one role"),
        ({"reviewer_mode": "named", "reviewers": []}, "reviewers", "Choose at least one reviewer."),
        ({"reviewers": []}, "reviewers", "Choose at least one fallback reviewer"),
        ({"reviewers": ["999999"]}, "reviewers", "Select a valid choice"),
        ({"start_at": "2001-01-01T09:00"}, "start_at", "cannot be in the past"),
        ({"start_at": "next tuesday"}, "start_at", "Enter a valid date/time."),
        ({"duration_days": "0"}, "duration_days", "greater than or equal to 1"),
        (
            {"duration_days": "366", "frequency": "once"},
            "duration_days",
            "less than or equal to 365",
        ),
        (
            {"duration_days": "7", "frequency": "weekly", "reminder_days": ""},
            "duration_days",
            "fewer than 7 days",
        ),
        ({"duration_days": "89", "frequency": "quarterly"}, "duration_days", "fewer than 89 days"),
        ({"end_mode": "on_date"}, "end_date", "Give the date after which no cycle starts."),
        (
            {"end_mode": "on_date", "end_date": "2001-01-01"},
            "end_date",
            "must be after the first start",
        ),
        ({"end_mode": "after_cycles"}, "end_after_cycles", "Give the number of cycles"),
        (
            {"end_mode": "after_cycles", "end_after_cycles": "0"},
            "end_after_cycles",
            "greater than or equal to 1",
        ),
        ({"reminder_days": "seven"}, "reminder_days", "'seven' is not one"),
        ({"reminder_days": "14"}, "reminder_days", "between 1 and 13 days before the end"),
        ({"reminder_days": "0, 3"}, "reminder_days", "between 1 and 13 days"),
        ({"reminder_days": "1", "duration_days": "1"}, "reminder_days", "no room for reminders"),
        ({"lookback_days": "0"}, "lookback_days", "greater than or equal to 1"),
        ({"lookback_days": "400"}, "lookback_days", "less than or equal to 365"),
        ({"invitation_text": "x" * 2001}, "invitation_text", "at most 2000 characters"),
        ({"principal_types": ["Robot"]}, "principal_types", "Select a valid choice"),
        ({"frequency": "hourly"}, "frequency", "Select a valid choice"),
        ({"default_decision": "shrug"}, "default_decision", "Select a valid choice"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_invalid_settings_are_refused_with_a_clear_error(setup, overrides, field, message):
    _tenant, _roles, admin, reviewer = setup
    response = login(admin).post(reverse(NEW), form_data(reviewer, **overrides))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors, errors
    assert any(message in e for e in errors[field]), errors[field]
    assert message.replace("'", "&#x27;") in response.content.decode()
    assert Campaign.objects.count() == 0
    assert AuditEvent.objects.count() == 0


def test_a_non_privileged_role_cannot_be_chosen(setup):
    _tenant, roles, admin, reviewer = setup
    data = form_data(reviewer, role_scope="selected", roles=[str(roles["readers"].pk)])
    response = login(admin).post(reverse(NEW), data)
    assert "roles" in response.context["form"].errors
    assert Campaign.objects.count() == 0


# --- editing, pausing ------------------------------------------------------------------------


def test_admin_edits_a_campaign_for_future_cycles(world):
    admin = login(world.admin)
    edit = reverse("reviews:campaign_edit", args=[world.campaign.pk])
    form = admin.get(edit)
    assert form.status_code == 200
    assert "Fixed once the first cycle has started." in form.content.decode()
    data = form_data(
        world.reviewer_b,
        name="Renamed review",
        duration_days="20",
        reminder_days="5",
        frequency="monthly",
        start_at=local(timezone.now() + timedelta(days=300)),  # ignored: the field is fixed
    )
    response = admin.post(edit, data)
    assert response.status_code == 302
    world.campaign.refresh_from_db()
    assert world.campaign.name == "Renamed review"
    assert world.campaign.duration_days == 20
    assert world.campaign.reminder_days == [5]
    assert world.campaign.start_at < timezone.now()
    event = AuditEvent.objects.get(action="reviews.campaign.edited")
    assert event.old["name"] == "Quarterly privileged SP review"
    # The running cycle keeps the settings it started with.
    world.cycle.refresh_from_db()
    assert world.cycle.ends_at - world.cycle.starts_at == timedelta(days=14)
    page = admin.get(response["Location"])
    assert "the changes apply from the next cycle" in page.content.decode()


def test_edit_form_shows_the_current_reminders(world):
    world.campaign.reminder_days = [7, 2]
    world.campaign.save()
    content = (
        login(world.admin)
        .get(reverse("reviews:campaign_edit", args=[world.campaign.pk]))
        .content.decode()
    )
    assert 'value="7, 2"' in content


def test_invalid_edit_changes_nothing(world):
    before = AuditEvent.objects.count()
    response = login(world.admin).post(
        reverse("reviews:campaign_edit", args=[world.campaign.pk]),
        form_data(world.reviewer_b, frequency="monthly", duration_days="45"),
    )
    assert response.status_code == 200
    assert "duration_days" in response.context["form"].errors
    world.campaign.refresh_from_db()
    assert world.campaign.duration_days == 14
    assert AuditEvent.objects.count() == before


def test_an_ended_campaign_cannot_be_edited(setup):
    tenant, _roles, admin, reviewer = setup
    campaign = make_campaign(tenant, admin, reviewers=[reviewer], frequency="once")
    from tests.factories import start_cycle

    start_cycle(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.ENDED
    client = login(admin)
    edit = reverse("reviews:campaign_edit", args=[campaign.pk])
    response = client.get(edit, follow=True)
    assert "This campaign has ended; create a new one instead." in response.content.decode()
    before = AuditEvent.objects.count()
    client.post(edit, form_data(reviewer, name="Sneaky"))
    campaign.refresh_from_db()
    assert campaign.name != "Sneaky"
    assert AuditEvent.objects.count() == before


def test_admin_pauses_and_resumes_a_campaign(world):
    admin = login(world.admin)
    response = admin.post(reverse("reviews:campaign_pause", args=[world.campaign.pk]), follow=True)
    world.campaign.refresh_from_db()
    assert world.campaign.status == Campaign.Status.PAUSED
    assert "Campaign paused" in response.content.decode()
    assert reverse("reviews:campaign_resume", args=[world.campaign.pk]) in response.content.decode()
    admin.post(reverse("reviews:campaign_resume", args=[world.campaign.pk]))
    world.campaign.refresh_from_db()
    assert world.campaign.status == Campaign.Status.ACTIVE
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"reviews.campaign.paused", "reviews.campaign.resumed"} <= actions


def test_pausing_an_ended_campaign_is_refused_with_a_message(setup):
    tenant, _roles, admin, reviewer = setup
    campaign = make_campaign(tenant, admin, reviewers=[reviewer])
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.ENDED)
    response = login(admin).post(reverse("reviews:campaign_pause", args=[campaign.pk]), follow=True)
    assert "This campaign has ended." in response.content.decode()


# --- list and detail -------------------------------------------------------------------------


def test_campaign_list_shows_status_next_start_and_latest_progress(world):
    from reviews import services

    services.record_decision(world.items["crm"].pk, "revoke", "", actor=world.reviewer_b)
    content = login(world.auditor).get(reverse("reviews:campaigns")).content.decode()
    assert "Quarterly privileged SP review" in content
    assert "Monthly" in content
    assert "Active" in content
    assert f"#{world.cycle.number}" in content
    assert "1 / 4" in content
    world.campaign.refresh_from_db()
    assert timezone.localtime(world.campaign.next_start_at).strftime("%Y-%m-%d") in content
    assert reverse("reviews:campaign_new") not in content  # auditors cannot create


def test_campaign_detail_lists_settings_and_cycles(world):
    content = (
        login(world.auditor)
        .get(reverse("reviews:campaign_detail", args=[world.campaign.pk]))
        .content.decode()
    )
    assert reverse("reviews:cycle_detail", args=[world.cycle.pk]) in content
    assert reverse("reviews:results", args=[world.cycle.pk]) in content
    assert "0 / 4" in content
    assert "Required to approve" in content
    assert "Keep access" in content
