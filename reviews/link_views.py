"""The landing page of the signed links in review emails.

It only checks the link and redirects: to sign-in (which comes back here, so everything is
checked again), or to the reviewer's queue, whose own access check still applies. It decides
nothing and signs nobody in.
"""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import links


@never_cache
@require_GET
def link(request: HttpRequest, token: str) -> HttpResponse:
    try:
        user_pk, cycle_pk = links.read_link(token)
    except links.LinkExpired:
        return _page(request, "reviews/link_ended.html", 410)
    except links.BadLink:
        return _page(request, "reviews/link_damaged.html", 400)
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if request.user.pk != user_pk:
        return _page(request, "reviews/link_other_person.html", 403)
    return redirect("reviews:queue", pk=cycle_pk)


def _page(request: HttpRequest, template: str, status: int) -> HttpResponse:
    response = render(request, template, {"nav": "my_reviews"}, status=status)
    # The token is in this page's address: keep it out of Referer headers.
    response["Referrer-Policy"] = "no-referrer"
    return response
