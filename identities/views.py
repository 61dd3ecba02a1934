"""Pages of the tenant mirror: inventory, one service principal, sync status.

Views only read rows and ask `identities.services` for changes; they never call Graph. Access
rules live in `accounts.permissions` so that Entra app roles can replace them later.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import EmptyPage
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh
from django_tables2 import Table

from accounts.permissions import is_admin, require_admin, require_reader
from outbox import services as outbox

from .credentials import EXPIRY_WARNING_DAYS, who_can_act
from .export import inventory_csv_response, inventory_export_url
from .filters import InventoryFilter, inventory_queryset
from .graph.values import graph_datetime
from .models import Assignment, ServicePrincipal, SyncRun, Tenant
from .services import configured_tenant, request_sync, running_sync
from .sync import reap_stale_runs
from .tables import InventoryTable, SyncRunTable

DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 200
PER_PAGE_CHOICES = (25, 50, 100, 200)
# After "Sync now" the page keeps polling this long for the worker to pick the task up.
QUEUED_SYNC_WAIT = timedelta(minutes=2)
SYNC_QUEUED_SESSION_KEY = "identities.sync_queued"


# --- helpers ---------------------------------------------------------------------------------


def _per_page(request: HttpRequest) -> int:
    """The page size asked for, clamped so that nobody renders 50k rows by editing the URL."""
    try:
        value = int(request.GET.get("per_page", DEFAULT_PER_PAGE))
    except ValueError:
        return DEFAULT_PER_PAGE
    return min(max(value, 1), MAX_PER_PAGE)


def _paginate(table: Table, request: HttpRequest) -> None:
    """Apply sorting and pagination from the query string (RequestConfig without its unbounded
    per_page); an out-of-range page shows the last one instead of an error."""
    table.request = request
    # Only the table's own sortable columns: anything else from the URL is dropped here rather
    # than handed to django-tables2 as an accessor path.
    orderable = {column.name for column in table.columns.iterorderable()}
    order_by = [
        name
        for name in request.GET.getlist(table.prefixed_order_by_field)
        if name.removeprefix("-") in orderable
    ]
    if order_by:
        table.order_by = order_by
    try:
        page = max(int(request.GET.get(table.prefixed_page_field, 1)), 1)
    except ValueError:
        page = 1
    try:
        table.paginate(page=page, per_page=_per_page(request))
    except EmptyPage:
        table.page = table.paginator.page(table.paginator.num_pages)


def _inventory_filter(request: HttpRequest, tenant: Tenant | None) -> InventoryFilter:
    # Always bound (an empty QueryDict is valid), so "no filters" and "bad filters" differ.
    return InventoryFilter(request.GET, inventory_queryset(tenant), tenant=tenant, request=request)


def _principal_for_user(request: HttpRequest, pk: int) -> ServicePrincipal:
    """The principal if it belongs to the configured tenant; 404 otherwise (even if it exists)."""
    tenant = configured_tenant()
    if tenant is None:
        raise Http404("No tenant has been synced yet.")
    return get_object_or_404(
        ServicePrincipal.objects.select_related("tenant", "application"), pk=pk, tenant=tenant
    )


# --- sync progress ---------------------------------------------------------------------------


def _remember_queued_sync(request: HttpRequest, tenant: Tenant | None) -> None:
    latest = tenant.sync_runs.order_by("-pk").values_list("pk", flat=True).first() if tenant else 0
    request.session[SYNC_QUEUED_SESSION_KEY] = {
        "after_run": latest or 0,
        "at": timezone.now().isoformat(),
    }


def _progress_context(request: HttpRequest, tenant: Tenant | None) -> dict[str, Any]:
    """What the progress block shows, and whether it should keep polling.

    It polls while a run is running, and also for a short while after "Sync now" until the
    worker has picked the task up; otherwise the button would seem to do nothing.
    """
    now = timezone.now()
    run = running_sync(tenant)
    latest = run or (tenant.sync_runs.select_related("requested_by").first() if tenant else None)
    waiting = waiting_too_long = False
    queued = request.session.get(SYNC_QUEUED_SESSION_KEY)
    if isinstance(queued, dict):
        queued_at = graph_datetime(queued.get("at"))
        picked_up = latest is not None and latest.pk > int(queued.get("after_run") or 0)
        if picked_up or queued_at is None:
            del request.session[SYNC_QUEUED_SESSION_KEY]
        elif now - queued_at < QUEUED_SYNC_WAIT:
            waiting = True
        else:
            waiting_too_long = True
    stale = bool(
        run is not None
        and (now - run.heartbeat_at).total_seconds() > settings.SYNC_STALE_AFTER_SECONDS
    )
    return {
        "run": latest,
        "running": run is not None,
        "waiting": waiting,
        "waiting_too_long": waiting_too_long,
        "stale": stale,
        "polling": run is not None or waiting,
        "can_sync": is_admin(request.user),
    }


# --- views -----------------------------------------------------------------------------------


@login_required
@require_GET
def inventory(request: HttpRequest) -> HttpResponse:
    require_reader(request)
    tenant = configured_tenant()
    filterset = _inventory_filter(request, tenant)
    rows = filterset.qs if filterset.is_valid() else Assignment.objects.none()
    table = InventoryTable(rows)
    _paginate(table, request)
    context = {
        "nav": "inventory",
        "tenant": tenant,
        "has_synced": tenant is not None and tenant.last_synced_at is not None,
        "running": running_sync(tenant),
        "filter": filterset,
        "table": table,
        "total": table.paginator.count,
        "export_url": inventory_export_url(request.GET),
        "per_page": _per_page(request),
        "per_page_choices": PER_PAGE_CHOICES,
        "sort": request.GET.get("sort", ""),
        "inactive_days": settings.INACTIVE_DAYS,
    }
    return render(request, "identities/inventory.html", context)


@login_required
@require_GET
def inventory_export(request: HttpRequest) -> HttpResponse:
    """The inventory as CSV, with the same filters as the page."""
    require_reader(request)
    tenant = configured_tenant()
    filterset = _inventory_filter(request, tenant)
    if not filterset.is_valid():
        return HttpResponseBadRequest(
            "Invalid filter:\n" + filterset.form.errors.as_text(), content_type="text/plain"
        )
    return inventory_csv_response(filterset.qs)


@login_required
@require_GET
def principal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require_reader(request)
    principal = _principal_for_user(request, pk)
    assignments = principal.assignments.select_related("role").order_by(
        "role__display_name", "directory_scope_id", "kind", "pk"
    )
    current = list(assignments.filter(removed_at__isnull=True))
    acting = who_can_act(principal, timezone.now())
    context = {
        "nav": "inventory",
        "principal": principal,
        "application": principal.application,
        "current_assignments": current,
        "roles": [a for a in current if not a.role.is_app_permission],
        # Grouped by API (Graph, Exchange, SharePoint …), then by permission name.
        "permissions": sorted(
            (a for a in current if a.role.is_app_permission),
            key=lambda a: (a.role.resource_name, a.role.display_name, a.pk),
        ),
        "removed_assignments": assignments.filter(removed_at__isnull=False).order_by(
            "-removed_at", "pk"
        ),
        "acting": acting,
        "credentials": acting.credentials,
        "owners": acting.owners,
        "tags": principal.tag_labels(),
        "inactive": principal.is_inactive(),
        "inactive_days": settings.INACTIVE_DAYS,
        "expiry_warning_days": EXPIRY_WARNING_DAYS,
    }
    return render(request, "identities/principal.html", context)


@login_required
@require_GET
def sync(request: HttpRequest) -> HttpResponse:
    require_reader(request)
    tenant = configured_tenant()
    runs = (
        SyncRun.objects.filter(tenant=tenant).select_related("requested_by")
        if tenant is not None
        else SyncRun.objects.none()
    )
    table = SyncRunTable(runs)
    _paginate(table, request)
    context = {
        "nav": "sync",
        "tenant": tenant,
        "tenant_configured": bool(settings.AZURE_TENANT_ID),
        "table": table,
        **_progress_context(request, tenant),
    }
    return render(request, "identities/sync.html", context)


@require_GET
def sync_progress(request: HttpRequest) -> HttpResponse:
    """The live progress block alone, for htmx polling from the sync page."""
    if not request.user.is_authenticated:
        # A poll whose session expired reloads the page (and so lands on the login form)
        # instead of swapping the login page into the block.
        if request.htmx:
            return HttpResponseClientRefresh()
        return redirect_to_login(request.get_full_path())
    require_reader(request)
    if not request.htmx:
        return redirect("identities:sync")
    context = _progress_context(request, configured_tenant())
    response = render(request, "identities/_sync_progress.html", context)
    if not context["polling"]:
        # The run this block was watching is over: reload so the history table shows it.
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_POST
def sync_start(request: HttpRequest) -> HttpResponse:
    require_admin(request)
    if not settings.AZURE_TENANT_ID:
        messages.error(request, "No tenant is configured: set AZURE_TENANT_ID first.")
        return redirect("identities:sync")
    tenant = configured_tenant()
    if tenant is not None:
        # A run whose worker died (stale heartbeat) must not block this one: fail it now.
        reap_stale_runs(tenant)
    if running_sync(tenant) is not None:
        messages.warning(request, "A sync is already running")
        return redirect("identities:sync")
    with outbox.watch() as queued:
        request_sync(actor=request.user, trigger="manual")
    _remember_queued_sync(request, tenant)
    messages.success(request, "Sync queued")
    if queued.unsent():
        # Not started: it starts once the broker takes it (the page keeps saying "queued").
        messages.warning(request, outbox.UNREACHABLE)
    return redirect("identities:sync")
