"""Sessions that end: an absolute lifetime, an idle timeout, and app roles re-read from Entra ID.

Entra ID is where access is granted and taken away, so a sign-in alone does not make someone an
admin for the life of their session. Every ROLE_RECHECK_SECONDS an Entra session renews the
person's sign-in with the refresh token kept from it, and applies the app roles of the fresh ID
token exactly as sign-in does (Admin → is_staff, Auditor → the Auditor group). A role removed in
Entra ID is gone at the person's first request after the interval; a refusal (account disabled,
token revoked or expired, the stored token unreadable) signs them out on that request, before any
view runs, so the request writes nothing.

The refresh token is the one secret this keeps: encrypted in the session (database) with a key
derived from SECRET_KEY, never put in a page, never logged.

When the authority does not answer, the roles last confirmed stay in force for OUTAGE_GRACE_SECONDS
past the due check: pages can still be read, but an admin's writes are refused (503, nothing
written) until Entra ID confirms the role again, and the session ends once the grace runs out.
The authority is asked again at most every OUTAGE_RETRY_SECONDS, so an outage does not hold up
every page. The break-glass password account has no Entra roles to re-check.

Every session, Entra or password, ends SESSION_MAX_AGE seconds after sign-in and after
SESSION_IDLE_TIMEOUT seconds without a request.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout, user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.crypto import salted_hmac
from django.utils.timesince import timesince
from django_htmx.http import HttpResponseClientRedirect

from . import signin
from .models import EntraAccount
from .permissions import is_admin

log = logging.getLogger(__name__)

# The time source; tests replace it to move past limits without sleeping.
clock: Callable[[], float] = time.time

STARTED_KEY = "session_started_at"
SEEN_KEY = "session_seen_at"
ROLES_CONFIRMED_KEY = "entra_roles_confirmed_at"
RECHECK_FAILED_KEY = "entra_roles_recheck_failed_at"
REFRESH_TOKEN_KEY = "entra_refresh_token"  # Fernet ciphertext, never the token itself
_ENTRA_KEYS = (
    signin.SIGNED_IN_WITH_KEY,
    REFRESH_TOKEN_KEY,
    ROLES_CONFIRMED_KEY,
    RECHECK_FAILED_KEY,
)

OUTAGE_GRACE_SECONDS = 600
OUTAGE_RETRY_SECONDS = 30
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# Kept from when this module lived in identities: a new salt would end every live Entra session.
_KEY_SALT = "identities.session_guard.refresh_token"


class SessionGuardMiddleware:
    """Ends sessions past their lifetime or idle timeout, and keeps an Entra session's roles what
    Entra ID says now. Sits after MessageMiddleware (it leaves a message for the sign-in page)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refusal = self._guard(request)
        return refusal if refusal is not None else self.get_response(request)

    def _guard(self, request: HttpRequest) -> HttpResponse | None:
        if not request.user.is_authenticated:
            return None
        session = request.session
        now = clock()
        # A session signed in before this guard existed (or without the signal) starts now.
        started = _stamp(session, STARTED_KEY, now)
        seen = _stamp(session, SEEN_KEY, now)
        if now - started >= settings.SESSION_MAX_AGE:
            return _end(
                request,
                f"Sessions last {_duration(settings.SESSION_MAX_AGE)}: sign in again.",
                reason="lifetime",
            )
        if now - seen >= settings.SESSION_IDLE_TIMEOUT:
            return _end(
                request,
                f"You were signed out after {_duration(settings.SESSION_IDLE_TIMEOUT)} without "
                "activity: sign in again.",
                reason="idle",
            )
        if session.get(signin.SIGNED_IN_WITH_KEY) == signin.SIGNED_IN_WITH_ENTRA:
            refusal = _recheck_roles(request, now)
            if refusal is not None:
                return refusal
        # Writing the session on every request would cost a query each; a minute is precise
        # enough for an idle limit of an hour.
        if now - seen >= min(60.0, settings.SESSION_IDLE_TIMEOUT / 10):
            session[SEEN_KEY] = now
        return None


def keep_entra_sign_in(request: HttpRequest, refresh_token: str) -> None:
    """Mark a session just signed in with Entra ID: its roles are confirmed now, and the refresh
    token (if Entra ID gave one) is kept, encrypted, to confirm them again later."""
    session = request.session
    session[signin.SIGNED_IN_WITH_KEY] = signin.SIGNED_IN_WITH_ENTRA
    session[ROLES_CONFIRMED_KEY] = clock()
    session.pop(RECHECK_FAILED_KEY, None)
    if refresh_token:
        session[REFRESH_TOKEN_KEY] = _encrypt(refresh_token)
    else:
        session.pop(REFRESH_TOKEN_KEY, None)


def connect_signals() -> None:
    """Every sign-in (Entra, password, or a test's force_login) starts the session's clocks."""
    user_logged_in.connect(_on_sign_in, dispatch_uid="accounts.session_guard")


def _on_sign_in(sender: Any, request: HttpRequest | None = None, **_: Any) -> None:
    session = getattr(request, "session", None)
    if session is None:
        return
    for key in _ENTRA_KEYS:  # what an earlier sign-in in this browser left behind
        session.pop(key, None)
    now = clock()
    session[STARTED_KEY] = now
    session[SEEN_KEY] = now


# ----- the role re-check --------------------------------------------------------------------------


def _recheck_roles(request: HttpRequest, now: float) -> HttpResponse | None:
    session = request.session
    confirmed = _number(session.get(ROLES_CONFIRMED_KEY))
    if confirmed is not None and now - confirmed < settings.ROLE_RECHECK_SECONDS:
        return None
    failed = _number(session.get(RECHECK_FAILED_KEY))
    if failed is None or now - failed >= OUTAGE_RETRY_SECONDS:
        try:
            _reconfirm(request)
        except signin.SignInError as exc:
            if exc.status != 503:
                return _end(request, f"{exc.title}. {exc.hint}", reason=f"refused ({exc.detail})")
            log.warning("app roles of user %s not re-checked: %s", request.user.pk, exc.detail)
            session[RECHECK_FAILED_KEY] = now
        else:
            session[ROLES_CONFIRMED_KEY] = now
            session.pop(RECHECK_FAILED_KEY, None)
            return None
    # Entra ID did not answer: the roles last confirmed hold for a while, an admin's writes not.
    if confirmed is None or now - confirmed >= settings.ROLE_RECHECK_SECONDS + OUTAGE_GRACE_SECONDS:
        return _end(
            request,
            "Entra ID could not confirm your access for too long: sign in again, or use the local "
            "administrator account while Entra ID is unavailable.",
            reason="roles unconfirmed",
        )
    if (
        request.method not in SAFE_METHODS
        and is_admin(request.user)
        and request.path != reverse("logout")
    ):
        return _unconfirmed_admin(request)
    return None


def _reconfirm(request: HttpRequest) -> None:
    """Renew the sign-in and apply the roles it names; request.user becomes the updated user."""
    user = request.user
    account = (
        EntraAccount.objects.filter(user_id=user.pk).only("object_id").first()
        if user.pk is not None
        else None
    )
    token = _decrypt(request.session.get(REFRESH_TOKEN_KEY))
    if account is None or not token:
        raise signin.SignInError(
            "Your sign-in cannot be renewed",
            "Sign in again.",
            detail="The session holds no usable refresh token.",
            status=401,
        )
    identity, renewed = signin.reconfirm(token, account.object_id)
    request.user = signin.user_for_identity(identity)
    request.session[REFRESH_TOKEN_KEY] = _encrypt(renewed)


def _unconfirmed_admin(request: HttpRequest) -> HttpResponse:
    error = signin.SignInError(
        "Your admin role could not be confirmed",
        "Entra ID is not answering, so spreview cannot check that you are still an admin. "
        "Nothing was changed. Try again in a few minutes; the local administrator account "
        "still signs in with a password.",
        status=503,
    )
    response = render(
        request,
        "registration/signin_error.html",
        {"error": error, "next": "", "entra_enabled": signin.is_configured()},
        status=503,
    )
    response["Retry-After"] = str(OUTAGE_RETRY_SECONDS)
    return response


# ----- helpers ------------------------------------------------------------------------------------


def _end(request: HttpRequest, message: str, *, reason: str) -> HttpResponse:
    """Sign the person out before the view runs, and send them to the sign-in page."""
    log.info("session of user %s ended: %s", request.user.pk, reason)
    logout(request)
    messages.warning(request, message)
    login_url = resolve_url(settings.LOGIN_URL)
    if request.headers.get("HX-Request") == "true":
        return HttpResponseClientRedirect(login_url)
    if request.method in SAFE_METHODS:
        return redirect_to_login(request.get_full_path())
    # A form posted to an ended session is dropped: coming back to a POST-only address after
    # signing in would only answer 405.
    return redirect(login_url)


def _stamp(session: SessionBase, key: str, now: float) -> float:
    value = _number(session.get(key))
    if value is None:
        session[key] = now
        return now
    return value


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _duration(seconds: float) -> str:
    """8 hours, 1 hour, 30 minutes: as Django says it, at most two units."""
    now = datetime(2000, 1, 1)
    return timesince(now - timedelta(seconds=seconds), now, depth=2).replace("\xa0", " ")


def _fernet() -> Fernet:
    key = salted_hmac(_KEY_SALT, "refresh-token", algorithm="sha256").digest()
    return Fernet(base64.urlsafe_b64encode(key))


def _encrypt(token: str) -> str:
    return _fernet().encrypt(token.encode()).decode()


def _decrypt(value: object) -> str:
    """The refresh token, or "" when there is none or it no longer decrypts (SECRET_KEY
    changed)."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        return _fernet().decrypt(value.encode()).decode()
    except (InvalidToken, ValueError):
        return ""
