"""The audit log, filtered and exported."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.permissions import require_reader

from ..export import audit_csv_response
from ..filters import AuditFilter, audit_queryset
from ..models import (
    AuditEvent,
)
from .common import (
    AUDIT_PER_PAGE,
)


def _audit_filter(request: HttpRequest) -> AuditFilter:
    # Always bound (an empty QueryDict is valid), so "no filters" and "bad filters" differ.
    return AuditFilter(request.GET, audit_queryset(), request=request)


@login_required
@require_GET
def audit(request: HttpRequest) -> HttpResponse:
    require_reader(request)
    filterset = _audit_filter(request)
    events = filterset.qs if filterset.is_valid() else AuditEvent.objects.none()
    page = Paginator(events, AUDIT_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "nav": "audit",
        "filter": filterset,
        "page": page,
        "events": page.object_list,
        "query": query.urlencode(),
    }
    return render(request, "reviews/audit.html", context)


@login_required
@require_GET
def audit_csv(request: HttpRequest) -> HttpResponse:
    require_reader(request)
    filterset = _audit_filter(request)
    if not filterset.is_valid():
        return HttpResponseBadRequest(
            "Invalid filter:\n" + filterset.form.errors.as_text(), content_type="text/plain"
        )
    return audit_csv_response(filterset.qs)
