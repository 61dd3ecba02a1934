"""The review state machine, service by service: start → decide → close → apply."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.models import EntraAccount
from reviews import services
from reviews.models import (
    ApplyStatus,
    AuditEvent,
    Campaign,
    Cycle,
    Decision,
    ItemReviewer,
    ReviewItem,
)
from tests.factories import NOW, owner

LATER = NOW + timedelta(days=1)


def actions() -> list[str]:
    return list(AuditEvent.objects.order_by("pk").values_list("action", flat=True))


# --------------------------------------------------------------------------- starting


def test_a_cycle_snapshots_exactly_the_in_scope_assignments(mirror, make_campaign, rita):
    app = mirror.principal("Deploy pipeline")
    kept = mirror.assign(app)
    eligible = mirror.assign(app, mirror.app_admin, kind="eligible", granted_via="pim")
    mirror.assign(app, mirror.reader)  # not privileged
    gone = mirror.assign(mirror.principal("Old app"), removed_at=NOW - timedelta(days=1))
    campaign = make_campaign(reviewers=[rita])

    cycle = services.start_cycle(campaign.pk, now=NOW)

    items = {i.assignment_id: i for i in cycle.items.all()}
    assert set(items) == {kept.pk, eligible.pk}
    assert gone.pk not in items
    item = items[eligible.pk]
    assert (item.principal_name, item.role_name, item.kind, item.granted_via) == (
        "Deploy pipeline",
        "Application Administrator",
        "eligible",
        "pim",
    )
    assert cycle.ends_at == NOW + timedelta(days=14)
    assert actions()[-1] == "reviews.cycle.started"


def test_the_snapshot_keeps_names_as_they_were(mirror, make_campaign, rita):
    app = mirror.principal("Before rename")
    mirror.assign(app)
    cycle = services.start_cycle(make_campaign(reviewers=[rita]).pk, now=NOW)

    app.display_name = "After rename"
    app.save()

    assert cycle.items.get().principal_name == "Before rename"


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ({"kinds": Campaign.Kinds.ACTIVE}, {"active-ga", "active-aa"}),
        ({"kinds": Campaign.Kinds.ELIGIBLE}, {"eligible-ga"}),
        ({"principal_types": ["ManagedIdentity"]}, {"active-aa"}),
        ({"role_scope": Campaign.RoleScope.SELECTED, "roles": "app_admin"}, {"active-aa"}),
    ],
)
def test_scope_settings_narrow_the_snapshot(mirror, make_campaign, rita, scope, expected):
    app = mirror.principal("App")
    identity = mirror.principal("Identity", sp_type="ManagedIdentity")
    labels = {
        mirror.assign(app).pk: "active-ga",
        mirror.assign(app, kind="eligible", granted_via="pim").pk: "eligible-ga",
        mirror.assign(identity, mirror.app_admin).pk: "active-aa",
    }
    scope = dict(scope)
    roles = [getattr(mirror, scope.pop("roles"))] if "roles" in scope else []
    cycle = services.start_cycle(make_campaign(reviewers=[rita], roles=roles, **scope).pk, now=NOW)

    assert {labels[i.assignment_id] for i in cycle.items.all()} == expected


def test_starting_costs_the_same_queries_for_5_and_60_assignments(mirror, make_campaign, rita):
    def queries_to_start(count: int) -> int:
        for n in range(count):
            app = mirror.principal(
                f"App {count}-{n}", owners=[owner(f"owner-{count}-{n}", f"Owner{n}")]
            )
            mirror.assign(app)
        campaign = make_campaign(reviewers=[rita], reviewer_mode=Campaign.ReviewerMode.OWNERS)
        with CaptureQueriesContext(connection) as queries:
            cycle = services.start_cycle(campaign.pk, now=NOW)
        assert cycle.items.count() == count
        # the next test run starts from a clean slate of assignments
        cycle.items.update()
        from identities.models import Assignment

        Assignment.objects.update(removed_at=NOW)
        return len(queries)

    assert queries_to_start(5) == queries_to_start(60)


def test_owners_review_their_principals_and_fallback_reviewers_the_ownerless(
    mirror, make_campaign, rita
):
    owned = mirror.principal(
        "Owned",
        owners=[
            owner("oid-alice", "Alice"),
            owner("oid-bot", "Bot", kind="servicePrincipal"),
        ],
    )
    ownerless = mirror.principal("Ownerless")
    mirror.assign(owned)
    mirror.assign(ownerless)
    campaign = make_campaign(reviewers=[rita], reviewer_mode=Campaign.ReviewerMode.OWNERS)

    cycle = services.start_cycle(campaign.pk, now=NOW)

    alice = EntraAccount.objects.get(object_id="oid-alice")
    assert alice.user.username == "oid-alice"
    assert alice.user_principal_name == "alice@contoso.example"
    links = {
        (link.item.principal_name, link.user_id, link.source)
        for link in ItemReviewer.objects.filter(item__cycle=cycle).select_related("item")
    }
    assert links == {("Owned", alice.user_id, "owner"), ("Ownerless", rita.pk, "fallback")}
    assert not EntraAccount.objects.filter(object_id="oid-bot").exists()


def test_an_owner_already_known_is_the_same_account_next_time(mirror, make_campaign, rita):
    app = mirror.principal("Owned", owners=[owner("oid-alice", "Alice")])
    mirror.assign(app)
    first = make_campaign(reviewers=[rita], reviewer_mode=Campaign.ReviewerMode.OWNERS)
    second = make_campaign(reviewers=[rita], reviewer_mode=Campaign.ReviewerMode.OWNERS)

    services.start_cycle(first.pk, now=NOW)
    services.start_cycle(second.pk, now=NOW)

    assert EntraAccount.objects.filter(object_id="oid-alice").count() == 1
    assert ItemReviewer.objects.filter(user__username="oid-alice").count() == 2


def test_named_reviewers_review_everything(mirror, make_campaign, rita, rob):
    mirror.assign(mirror.principal("Owned", owners=[owner("oid-alice", "Alice")]))
    cycle = services.start_cycle(make_campaign(reviewers=[rita, rob]).pk, now=NOW)

    item = cycle.items.get()
    assert set(item.reviewer_links.values_list("user_id", flat=True)) == {rita.pk, rob.pk}


def test_recommendations_come_with_their_reason(mirror, make_campaign, rita):
    mirror.assign(mirror.principal("Active"))
    mirror.assign(mirror.principal("Idle", last_sign_in_at=NOW - timedelta(days=45)))
    mirror.assign(mirror.principal("Disabled", account_enabled=False))
    cycle = services.start_cycle(make_campaign(reviewers=[rita], lookback_days=30).pk, now=NOW)

    got = {i.principal_name: (i.recommendation, i.recommendation_reason) for i in cycle.items.all()}
    assert got["Active"][0] == "approve"
    assert got["Idle"] == ("revoke", "No sign-in in the last 30 days (last one 45 days ago).")
    assert got["Disabled"][0] == "revoke"
    assert "disabled" in got["Disabled"][1]


def test_the_tick_starts_a_due_cycle_once(mirror, make_campaign, rita):
    mirror.assign(mirror.principal("App"))
    campaign = make_campaign(reviewers=[rita], start_at=NOW + timedelta(hours=1))

    assert services.start_due_cycles(NOW) == []
    first = services.start_due_cycles(NOW + timedelta(hours=1))
    again = services.start_due_cycles(NOW + timedelta(hours=1, minutes=1))

    assert len(first) == 1 and again == []
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.ENDED  # "once": nothing more to start
    assert campaign.next_start_at is None


def test_a_paused_campaign_starts_nothing_until_resumed(mirror, make_campaign, rita, admin):
    mirror.assign(mirror.principal("App"))
    campaign = make_campaign(reviewers=[rita], frequency="weekly")
    services.set_campaign_paused(campaign.pk, True, actor=admin)

    assert services.start_due_cycles(NOW + timedelta(days=1)) == []
    services.set_campaign_paused(campaign.pk, False, actor=admin)
    assert len(services.start_due_cycles(NOW + timedelta(days=1))) == 1
    assert "reviews.campaign.paused" in actions() and "reviews.campaign.resumed" in actions()


def test_missed_starts_give_one_cycle_and_the_schedule_does_not_drift(mirror, make_campaign, rita):
    mirror.assign(mirror.principal("App"))
    campaign = make_campaign(reviewers=[rita], frequency="weekly", duration_days=3)

    # the scheduler was down for three weeks and a bit
    started = services.start_due_cycles(NOW + timedelta(days=22))

    assert len(started) == 1
    cycle = Cycle.objects.get(pk=started[0])
    assert cycle.scheduled_at == NOW + timedelta(days=21)
    campaign.refresh_from_db()
    assert campaign.next_start_at == NOW + timedelta(days=28)


def test_an_ended_campaign_given_more_cycles_runs_again(mirror, make_campaign, rita, admin):
    mirror.assign(mirror.principal("App"))
    campaign = make_campaign(reviewers=[rita])
    services.start_cycle(campaign.pk, now=NOW)

    services.update_campaign(
        campaign.pk, {"frequency": "monthly"}, roles=[], reviewers=[rita], actor=admin
    )

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.ACTIVE
    assert campaign.next_start_at == NOW.replace(month=4)


def test_a_campaign_ends_after_n_cycles(mirror, make_campaign, rita):
    mirror.assign(mirror.principal("App"))
    campaign = make_campaign(
        reviewers=[rita], frequency="weekly", duration_days=3, end_mode="after_cycles",
        end_after_cycles=2,
    )  # fmt: skip

    for week in range(4):
        services.close_due_cycles(NOW + timedelta(weeks=week))
        services.start_due_cycles(NOW + timedelta(weeks=week))

    assert campaign.cycles.count() == 2
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.ENDED


def test_edits_apply_to_future_cycles_only(mirror, make_campaign, rita, admin):
    mirror.assign(mirror.principal("App"))
    campaign = make_campaign(reviewers=[rita], default_decision=Campaign.Default.KEEP)
    cycle = services.start_cycle(campaign.pk, now=NOW)

    services.update_campaign(
        campaign.pk, {"default_decision": Campaign.Default.REVOKE}, roles=[], reviewers=[rita],
        actor=admin,
    )  # fmt: skip
    services.close_cycle(cycle.pk, now=LATER)

    assert cycle.items.get().outcome == "keep"
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.ENDED  # "once", and its one cycle has started
    edit = AuditEvent.objects.get(action="reviews.campaign.edited")
    assert edit.old == {"default_decision": "keep"} and edit.new == {"default_decision": "revoke"}


# --------------------------------------------------------------------------- deciding


@pytest.fixture
def open_cycle(mirror, make_campaign, rita):
    def make(**fields):
        for name in ("Alpha", "Beta", "Gamma"):
            mirror.assign(mirror.principal(name))
        return services.start_cycle(make_campaign(reviewers=[rita], **fields).pk, now=NOW)

    return make


def test_decisions_can_change_and_the_last_one_counts(open_cycle, rita):
    item = open_cycle().items.first()

    services.record_decision(item.pk, "revoke", "unused", actor=rita, now=LATER)
    services.record_decision(item.pk, "approve", "needed after all", actor=rita, now=LATER)

    item.refresh_from_db()
    assert (item.decision, item.justification, item.decided_by) == (
        "approve",
        "needed after all",
        rita,
    )
    changes = AuditEvent.objects.filter(item_id=item.pk).order_by("pk")
    assert [e.action for e in changes] == ["reviews.decision.revoke", "reviews.decision.approve"]
    assert changes[1].old == {"decision": "revoke", "justification": "unused"}


def test_the_same_decision_twice_is_recorded_once(open_cycle, rita):
    item = open_cycle().items.first()
    services.record_decision(item.pk, "revoke", "x", actor=rita, now=LATER)
    services.record_decision(item.pk, "revoke", "x", actor=rita, now=LATER)

    assert AuditEvent.objects.filter(item_id=item.pk).count() == 1


@pytest.mark.parametrize(
    ("rule", "decision", "refused"),
    [
        ("none", "approve", False),
        ("none", "revoke", False),
        ("on_approve", "approve", True),
        ("on_approve", "revoke", False),
        ("on_approve", "dont_know", False),
        ("always", "approve", True),
        ("always", "revoke", True),
        ("always", "dont_know", True),
    ],
)
def test_justification_rules(open_cycle, rita, rule, decision, refused):
    item = open_cycle(justification=rule).items.first()

    if refused:
        with pytest.raises(services.ReviewError, match="justification is required"):
            services.record_decision(item.pk, decision, "   ", actor=rita, now=LATER)
        item.refresh_from_db()
        assert item.decision == Decision.PENDING
        assert not AuditEvent.objects.filter(item_id=item.pk).exists()
    else:
        services.record_decision(item.pk, decision, "", actor=rita, now=LATER)
        item.refresh_from_db()
        assert item.decision == decision
    services.record_decision(item.pk, decision, "a reason", actor=rita, now=LATER)


@pytest.mark.parametrize(
    ("decision", "justification", "message"),
    [
        ("delete-everything", "x", "Choose approve, revoke or don't know"),
        ("pending", "x", "Choose approve, revoke or don't know"),
        ("revoke", "x" * 2001, "too long"),
    ],
)
def test_bad_decisions_are_refused_and_change_nothing(
    open_cycle, rita, decision, justification, message
):
    item = open_cycle().items.first()

    with pytest.raises(services.ReviewError, match=message):
        services.record_decision(item.pk, decision, justification, actor=rita, now=LATER)

    item.refresh_from_db()
    assert item.decision == Decision.PENDING
    assert not AuditEvent.objects.filter(item_id=item.pk).exists()


def test_only_the_items_reviewer_can_decide_it(open_cycle, rob, admin):
    item = open_cycle().items.first()

    for outsider in (rob, admin):
        with pytest.raises(ReviewItem.DoesNotExist):
            services.record_decision(item.pk, "revoke", "x", actor=outsider, now=LATER)
    item.refresh_from_db()
    assert item.decision == Decision.PENDING


def test_no_decision_after_the_end_date_or_the_close(open_cycle, rita):
    cycle = open_cycle()
    item = cycle.items.first()

    with pytest.raises(services.ReviewError, match="has ended"):
        services.record_decision(item.pk, "revoke", "x", actor=rita, now=cycle.ends_at)
    services.close_cycle(cycle.pk, now=LATER)
    with pytest.raises(services.ReviewError, match="has ended"):
        services.record_decision(item.pk, "revoke", "x", actor=rita, now=LATER)
    item.refresh_from_db()
    assert item.decision == Decision.PENDING


def test_accepting_recommendations_decides_only_my_pending_items(mirror, make_campaign, rita, rob):
    mirror.assign(mirror.principal("Busy"))
    mirror.assign(mirror.principal("Idle", last_sign_in_at=None))
    mirror.assign(mirror.principal("Decided"))
    cycle = services.start_cycle(make_campaign(reviewers=[rita]).pk, now=NOW)
    decided = cycle.items.get(principal_name="Decided")
    services.record_decision(decided.pk, "revoke", "mine", actor=rita, now=LATER)

    assert services.accept_recommendations(cycle.pk, actor=rob, now=LATER) == 0
    assert services.accept_recommendations(cycle.pk, actor=rita, now=LATER) == 2

    got = dict(cycle.items.values_list("principal_name", "decision"))
    assert got == {"Busy": "approve", "Idle": "revoke", "Decided": "revoke"}
    assert cycle.items.get(principal_name="Idle").justification.startswith(
        "Accepted the recommendation: Never signed in"
    )


def test_reset_puts_every_decision_back_to_pending_and_audits_each(open_cycle, rita, admin):
    cycle = open_cycle()
    for item in cycle.items.all()[:2]:
        services.record_decision(item.pk, "revoke", "x", actor=rita, now=LATER)

    assert services.reset_decisions(cycle.pk, actor=admin, now=LATER) == 2

    assert set(cycle.items.values_list("decision", flat=True)) == {"pending"}
    assert AuditEvent.objects.filter(action="reviews.decision.reset").count() == 2


# --------------------------------------------------------------------------- closing


@pytest.mark.parametrize(
    ("default", "expected"),
    [
        ("keep", {"Decided keep": "keep", "Decided revoke": "revoke", "Idle": "keep",
                  "Unsure": "keep", "Busy": "keep"}),
        ("revoke", {"Decided keep": "keep", "Decided revoke": "revoke", "Idle": "revoke",
                    "Unsure": "revoke", "Busy": "revoke"}),
        ("recommendation", {"Decided keep": "keep", "Decided revoke": "revoke", "Idle": "revoke",
                            "Unsure": "keep", "Busy": "keep"}),
    ],
)  # fmt: skip
def test_undecided_items_take_the_default(mirror, make_campaign, rita, default, expected):
    for name in ("Decided keep", "Decided revoke", "Unsure", "Busy"):
        mirror.assign(mirror.principal(name))
    mirror.assign(mirror.principal("Idle", last_sign_in_at=NOW - timedelta(days=400)))
    cycle = services.start_cycle(
        make_campaign(reviewers=[rita], default_decision=default).pk, now=NOW
    )
    by_name = {i.principal_name: i for i in cycle.items.all()}
    services.record_decision(by_name["Decided keep"].pk, "approve", "", actor=rita, now=LATER)
    services.record_decision(by_name["Decided revoke"].pk, "revoke", "", actor=rita, now=LATER)
    services.record_decision(by_name["Unsure"].pk, "dont_know", "", actor=rita, now=LATER)

    services.close_cycle(cycle.pk, now=cycle.ends_at)

    cycle.refresh_from_db()
    assert cycle.status == Cycle.Status.COMPLETED
    got = dict(cycle.items.values_list("principal_name", "outcome"))
    assert got == expected
    for item in cycle.items.all():
        wanted = ApplyStatus.PENDING if item.outcome == "revoke" else ApplyStatus.NOT_NEEDED
        assert item.apply_status == wanted
    assert cycle.items.get(principal_name="Decided revoke").outcome_source == "decision"
    assert cycle.items.get(principal_name="Busy").outcome_source == f"default:{default}"


def test_closing_twice_changes_nothing_the_second_time(open_cycle):
    cycle = open_cycle(default_decision="revoke")
    services.close_cycle(cycle.pk, now=LATER)
    events = AuditEvent.objects.count()

    services.close_cycle(cycle.pk, now=LATER + timedelta(hours=1))

    assert AuditEvent.objects.count() == events
    cycle.refresh_from_db()
    assert cycle.closed_at == LATER


def test_the_tick_closes_cycles_at_their_end(open_cycle):
    cycle = open_cycle()

    assert services.close_due_cycles(cycle.ends_at - timedelta(seconds=1)) == []
    assert services.close_due_cycles(cycle.ends_at) == [cycle.pk]


def test_stopping_early_fixes_outcomes_and_refuses_later_decisions(open_cycle, rita, admin):
    cycle = open_cycle(default_decision="revoke")
    item = cycle.items.first()

    services.stop_cycle(cycle.pk, actor=admin, now=LATER)

    cycle.refresh_from_db()
    assert cycle.status == Cycle.Status.STOPPED
    assert cycle.closed_by == admin
    assert set(cycle.items.values_list("outcome", flat=True)) == {"revoke"}
    with pytest.raises(services.ReviewError):
        services.record_decision(item.pk, "approve", "x", actor=rita, now=LATER)
    with pytest.raises(services.ReviewError, match="not running"):
        services.stop_cycle(cycle.pk, actor=admin, now=LATER)
    assert "reviews.cycle.stopped" in actions()


def test_auto_apply_queues_the_revocations_at_close(
    open_cycle, django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr("reviews.tasks.apply_revocation.delay", queued.append)
    monkeypatch.setattr("reviews.tasks.send_completion_notice.delay", lambda pk: None)
    cycle = open_cycle(default_decision="revoke", auto_apply=True)

    with django_capture_on_commit_callbacks(execute=True):
        services.close_cycle(cycle.pk, now=LATER)

    cycle.refresh_from_db()
    assert cycle.status == Cycle.Status.APPLYING
    assert sorted(queued) == sorted(cycle.items.values_list("pk", flat=True))
    assert set(cycle.items.values_list("apply_status", flat=True)) == {ApplyStatus.QUEUED}


def test_apply_is_refused_while_the_review_runs(open_cycle, admin):
    with pytest.raises(services.ReviewError, match="Close the review"):
        services.request_apply(open_cycle().pk, actor=admin)


def test_a_cycle_with_nothing_to_revoke_is_applied_at_once(open_cycle, admin):
    cycle = open_cycle(default_decision="keep")
    services.close_cycle(cycle.pk, now=LATER)

    assert services.request_apply(cycle.pk, actor=admin) == 0

    cycle.refresh_from_db()
    assert cycle.status == Cycle.Status.APPLIED


def test_apply_records_each_result_and_settles_the_cycle(
    open_cycle, admin, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("reviews.tasks.apply_revocation.delay", lambda pk: None)
    cycle = open_cycle(default_decision="revoke")
    services.close_cycle(cycle.pk, now=LATER)
    services.request_apply(cycle.pk, actor=admin)
    sent = []

    def remove(privilege, justification):
        sent.append(privilege.role_assignment_id)
        return "already_gone" if len(sent) == 2 else "removed"

    results = [services.apply_item(i.pk, remove) for i in cycle.items.order_by("pk")]
    again = [services.apply_item(i.pk, remove) for i in cycle.items.order_by("pk")]

    assert results == ["applied"] * 3 and again == [None] * 3
    assert len(sent) == 3
    statuses = sorted(cycle.items.values_list("apply_status", flat=True))
    assert statuses == ["already_gone", "applied", "applied"]
    cycle.refresh_from_db()
    assert cycle.status == Cycle.Status.APPLIED
    assert actions().count("reviews.removal.applied") == 2


# --------------------------------------------------------------------------- the audit log


def test_the_audit_log_refuses_updates_and_deletes(open_cycle):
    open_cycle()
    event = AuditEvent.objects.order_by("pk").first()

    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="tampered")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM reviews_auditevent")

    event.refresh_from_db()
    assert event.action == "reviews.campaign.created"


def test_secret_looking_values_are_masked_in_the_log(db):
    from reviews import audit

    event = audit.record(
        "test.masking", new={"client_secret": "s3cr3t", "nested": [{"accessToken": "t"}]}
    )

    event.refresh_from_db()
    assert event.new == {"client_secret": "***", "nested": [{"accessToken": "***"}]}


def item_table_row_estimates() -> dict[str, float]:
    """What the planner believes the item tables hold (pg_class: written by ANALYZE, in the
    transaction)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples FROM pg_class "
            "WHERE relname IN ('reviews_reviewitem', 'reviews_itemreviewer')"
        )
        return dict(cursor.fetchall())


def test_a_large_cycle_refreshes_the_item_statistics_once_committed(
    mirror, make_campaign, rita, monkeypatch, django_capture_on_commit_callbacks
):
    from reviews.services import cycles

    monkeypatch.setattr(cycles, "ANALYZE_AFTER_ITEMS", 3)
    app = mirror.principal("Deploy pipeline")
    for role in (mirror.global_admin, mirror.app_admin):
        mirror.assign(app, role)
    mirror.assign(app, mirror.app_admin, kind="eligible", granted_via="pim")
    assert item_table_row_estimates() != {"reviews_reviewitem": 3, "reviews_itemreviewer": 3}

    with django_capture_on_commit_callbacks(execute=True):
        services.start_cycle(make_campaign(reviewers=[rita]).pk, now=NOW)

    assert item_table_row_estimates() == {"reviews_reviewitem": 3, "reviews_itemreviewer": 3}


def test_a_small_cycle_leaves_statistics_to_autovacuum(
    mirror, make_campaign, rita, django_capture_on_commit_callbacks
):
    mirror.assign(mirror.principal("Deploy pipeline"))
    before = item_table_row_estimates()

    with django_capture_on_commit_callbacks(execute=True):
        services.start_cycle(make_campaign(reviewers=[rita]).pk, now=NOW)

    assert item_table_row_estimates() == before
