"""Shared steps of the apply tests: a simulator tenant mirrored, reviewed, closed and queued.

Imported explicitly by the apply tests (not a conftest: other review tests have their own).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import timedelta

import pytest
from django.utils import timezone

from identities import sync
from identities.graph import GraphClient
from identities.graph.removals import Grant, Privilege, current_grants, remove
from identities.models import SyncRun, Tenant
from reviews import services
from reviews.models import Campaign, Cycle, ReviewItem
from tests.factories import make_reviewer

# What Graph sees of a removal: the DELETE of a direct assignment, or an adminRemove request.
REMOVAL_PATHS = (
    "/roleManagement/directory/roleAssignments/",
    "/roleManagement/directory/roleAssignmentScheduleRequests",
    "/roleManagement/directory/roleEligibilityScheduleRequests",
)
# Answers of the simulator's fault switches: the request never reached the tenant.
REFUSED_BY_FAULTS = (429, 503, 504)


def sync_tenant() -> SyncRun:
    run = sync.sync_configured_tenant(trigger="test")
    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    return run


def reviewer(username: str = "rita-apply"):
    return make_reviewer(username)


def open_cycle(user, *, default_decision: str = Campaign.Default.REVOKE, **fields) -> Cycle:
    """A running cycle over every privileged role assignment the sync mirrored (pass
    `privileges=` for application permissions too); `user` reviews all."""
    now = timezone.now()
    values = {
        "tenant": Tenant.objects.get(),
        "name": "Privileged service principals",
        "privileges": Campaign.Privileges.ROLES,
        "start_at": now - timedelta(minutes=1),
        "reviewer_mode": Campaign.ReviewerMode.NAMED,
        "default_decision": default_decision,
        "justification": Campaign.Justification.NONE,
        **fields,
    }
    campaign = services.create_campaign(Campaign(**values), roles=[], reviewers=[user], actor=user)
    cycle = services.start_cycle(campaign.pk, now=now)
    assert cycle is not None and cycle.items.exists()
    return cycle


def closed_and_queued(cycle: Cycle, user) -> list[ReviewItem]:
    """Close the review and request the apply; the revoked items, now queued."""
    services.close_cycle(cycle.pk, actor=user)
    services.request_apply(cycle.pk, actor=user)
    return list(cycle.items.filter(apply_status="queued").order_by("pk"))


def revoke_everything(user) -> tuple[Cycle, list[ReviewItem]]:
    """Mirror the tenant, review it with "revoke" as the default, close, queue the apply."""
    sync_tenant()
    cycle = open_cycle(user)
    return cycle, closed_and_queued(cycle, user)


def graph_remover(client: GraphClient | None = None) -> Callable[[Privilege, str], str]:
    """What `reviews.tasks._remover` hands to `apply_item`, with a client of our own."""
    client = client or GraphClient.from_settings()

    def send(privilege: Privilege, justification: str) -> str:
        return remove(client, privilege, justification)

    return send


def graph_inspector(client: GraphClient | None = None) -> Callable[[Privilege], list[Grant]]:
    """What `reviews.tasks._inspect` does: read the grants Graph lists now, before a retry."""
    client = client or GraphClient.from_settings()
    return lambda privilege: current_grants(client, privilege)


def apply_all(items: Iterable[ReviewItem], remover, **kwargs) -> dict[int, str | None]:
    return {item.pk: services.apply_item(item.pk, remover, **kwargs) for item in items}


def triple(item: ReviewItem) -> tuple[str, str, str, str]:
    """The item as the simulator's `expected_privileged_sp_assignments()` lists it."""
    return (item.principal_object_id, item.role_object_id, item.directory_scope_id, item.kind)


def removal_requests(sim, *, reached_tenant: bool = False) -> list:
    """Removal requests in the simulator's log; optionally only those not refused by a fault."""
    found = [
        r
        for r in sim.requests
        if (r.method == "DELETE" and REMOVAL_PATHS[0] in r.path)
        or (r.method == "POST" and any(p in r.path for p in REMOVAL_PATHS[1:]))
    ]
    if reached_tenant:
        found = [r for r in found if r.status not in REFUSED_BY_FAULTS]
    return found


def successful_removals(sim, items: Iterable[ReviewItem]) -> dict[int, int]:
    """How many removal requests that removed something (201, 204) Graph logged per item,
    matched by the grant each request named (the simulator logs it as `target`)."""

    def item_key(item: ReviewItem) -> tuple[str, str]:
        if item.kind == "active" and item.granted_via == "direct":
            return item.kind, item.role_assignment_id
        scope = item.directory_scope_id or "/"
        return item.kind, f"{item.principal_object_id} {item.role_object_id} {scope}"

    done = Counter(
        ("eligible" if "roleEligibilitySchedule" in r.path else "active", r.target)
        for r in removal_requests(sim)
        if r.status in (201, 204)
    )
    return {item.pk: done[item_key(item)] for item in items}


def statuses(items: Iterable[ReviewItem]) -> dict[int, str]:
    return dict(
        ReviewItem.objects.filter(pk__in=[i.pk for i in items]).values_list("pk", "apply_status")
    )


def split_by_mechanism(items: Iterable[ReviewItem]) -> dict[str, list[ReviewItem]]:
    groups: dict[str, list[ReviewItem]] = {"direct": [], "pim_active": [], "eligible": []}
    for item in items:
        if item.kind == "eligible":
            groups["eligible"].append(item)
        elif item.granted_via == "pim":
            groups["pim_active"].append(item)
        else:
            groups["direct"].append(item)
    return groups


@pytest.fixture
def fresh_task_client():
    """`reviews.tasks` keeps one Graph client per process: each test gets its own simulator."""
    from reviews import tasks

    tasks._client = None
    yield
    if tasks._client is not None:
        tasks._client.close()
    tasks._client = None


@pytest.fixture
def no_broker(monkeypatch):
    """Transactional tests run on_commit hooks: keep their tasks off the broker, recorded."""
    from reviews import tasks

    sent: list[int] = []
    monkeypatch.setattr(services.apply, "_enqueue_apply", lambda ids: sent.extend(ids))
    monkeypatch.setattr(tasks.send_invitations, "delay", lambda cycle_id: None)
    monkeypatch.setattr(tasks.send_completion_notice, "delay", lambda cycle_id: None)
    return sent
