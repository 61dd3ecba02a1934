"""Views of the deployment itself, not of the product."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """ "ok" while the web process answers: for container probes and as the load benchmark's
    trivial page. Touches neither the database nor the session, so a slow database shows up in
    the pages, not here."""
    return HttpResponse("ok", content_type="text/plain")
