"""Sign-in and sign-out pages: Entra ID first, a password for the local break-glass account.

The work is in `accounts.signin`; these views only move the browser and render the pages.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import login, logout
from django.contrib.auth import views as django_auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from . import session_guard, signin

log = logging.getLogger(__name__)

# Entra-signed-in users have no usable password: ModelBackend only loads them per request.
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def safe_next(request: HttpRequest, value: str | None) -> str:
    """`next` if it is an address on this site (a path), else ""."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return ""
    if not url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return ""
    return value


def _error_page(
    request: HttpRequest, error: signin.SignInError, next_url: str = ""
) -> HttpResponse:
    return render(
        request,
        "registration/signin_error.html",
        {"error": error, "next": next_url, "entra_enabled": signin.is_configured()},
        status=error.status,
    )


class PasswordLoginView(django_auth_views.LoginView):
    """The sign-in page: "Sign in with Microsoft", and the password form for break-glass use."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["entra_enabled"] = signin.is_configured()
        context["next"] = safe_next(self.request, context.get(self.redirect_field_name, ""))
        return context


def locked_out(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """django-axes' answer once a username has failed too often from one address."""
    cool_off = settings.AXES_COOLOFF_TIME
    return render(
        request,
        "registration/locked_out.html",
        {
            "minutes": max(1, int(cool_off.total_seconds() // 60)),
            "failure_limit": settings.PASSWORD_FAILURES_ALLOWED,
        },
        status=429,
    )


@never_cache
@require_GET
def signin_start(request: HttpRequest) -> HttpResponse:
    """Send the browser to Entra ID's sign-in page; `next` comes back through the session."""
    next_url = safe_next(request, request.GET.get("next"))
    if not signin.is_configured():
        return _error_page(
            request,
            signin.SignInError(
                "Sign-in with Microsoft is not set up",
                "An administrator should set AZURE_TENANT_ID and AZURE_CLIENT_ID. The local "
                "administrator account still signs in with a password.",
                status=503,
            ),
            next_url,
        )
    try:
        auth_uri = signin.begin(request, next_url)
    except signin.SignInError as exc:
        log.warning("sign-in could not start: %s", exc)
        return _error_page(request, exc, next_url)
    return redirect(auth_uri)


@never_cache
@require_GET
def signin_callback(request: HttpRequest) -> HttpResponse:
    """Entra ID sends the browser back here with a code (or an error) and the state."""
    try:
        identity, next_url, refresh_token = signin.complete(request)
        user = signin.user_for_identity(identity)
    except signin.SignInError as exc:
        log.info("sign-in refused: %s", exc)
        return _error_page(request, exc)
    login(request, user, backend=MODEL_BACKEND)
    session_guard.keep_entra_sign_in(request, refresh_token)
    return redirect(safe_next(request, next_url) or resolve_url(settings.LOGIN_REDIRECT_URL))


@require_POST
def signout(request: HttpRequest) -> HttpResponse:
    """End the spreview session; an Entra session is ended at Entra ID too, so the next person
    at this browser is not signed straight back in."""
    with_entra = request.session.get(signin.SIGNED_IN_WITH_KEY) == signin.SIGNED_IN_WITH_ENTRA
    logout(request)
    if with_entra and signin.is_configured():
        return redirect(signin.end_session_url())
    return redirect("signed_out")


@require_GET
def signed_out(request: HttpRequest) -> HttpResponse:
    return render(request, "registration/signed_out.html")
