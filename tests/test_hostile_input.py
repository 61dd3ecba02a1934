"""Hostile query strings and form fields on every URL of the project: never a 500, and a refused
POST writes nothing to any table.

The parameters each URL reads are listed in PARAMETERS, one row per URL name; a URL added
without a row fails `test_every_url_has_its_parameters_listed`, as the authorization matrix
does for personas. Hypothesis makes up the values: arbitrary text (NUL, right-to-left
overrides, emoji), bytes that are not UTF-8, numbers too large for any column, negative and
out-of-range dates, unknown sort fields, repeated keys. Requests carry a real session and a
CSRF token the middleware checks.
"""

from __future__ import annotations

import os
import warnings
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, quote_from_bytes, urlencode, urlsplit

import pytest
from django.apps import apps
from django.contrib.messages import constants as message_levels
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reviews.links import make_token
from reviews.models import ReviewItem
from tests.factories import World, make_world
from tests.test_authorization_matrix import url_names

pytestmark = pytest.mark.slow  # hypothesis sends every URL a dozen requests or more

CSRF = "k" * 32
FILTERS = (
    "q", "role", "privilege_type", "tier", "sp_type", "kind", "granted_via", "ownerless",
    "inactive", "disabled",
)  # fmt: skip
TABLE = ("sort", "page", "per_page")
AUDIT = ("action", "campaign", "cycle", "actor", "since", "until", "page")
CAMPAIGN = (
    "name", "description", "role_scope", "roles", "kinds", "principal_types", "reviewer_mode",
    "reviewers", "start_at", "start_now", "frequency", "duration_days", "end_mode", "end_date",
    "end_after_cycles", "reminder_days", "default_decision", "auto_apply", "justification",
    "lookback_days", "invitation_text",
)  # fmt: skip
DECISION = ("decision", "justification", "show", "page")

# URL name → (query parameters of its GET, form fields of its POST); None: that method is
# refused before any parameter is read (405), so it is sent junk once by the matrix only.
PARAMETERS: dict[str, tuple[tuple[str, ...] | None, tuple[str, ...] | None]] = {
    "home": ((), None),
    "healthz": ((), None),
    "overview": ((), None),
    "login": (("next",), ("username", "password", "next")),
    "signin": (("next",), None),
    "signin_callback": (("state", "code", "error", "error_description", "session_state"), None),
    "logout": (None, ()),
    "signed_out": ((), None),
    "identities:inventory": (FILTERS + TABLE, None),
    "identities:inventory_export": (FILTERS + TABLE, None),
    "identities:principal": ((), None),
    "identities:sync": (TABLE, None),
    "identities:sync_progress": ((), None),
    "identities:sync_start": (None, ()),
    "reviews:my_reviews": ((), None),
    "reviews:campaigns": ((), None),
    "reviews:campaign_new": ((), CAMPAIGN),
    "reviews:campaign_detail": ((), None),
    "reviews:campaign_edit": ((), CAMPAIGN),
    "reviews:campaign_pause": (None, ()),
    "reviews:campaign_resume": (None, ()),
    "reviews:cycle_detail": ((), None),
    "reviews:cycle_stop": (None, ()),
    "reviews:cycle_reset": (None, ()),
    "reviews:cycle_remind": (None, ()),
    "reviews:cycle_apply": (None, ()),
    "reviews:cycle_retry": (None, ()),
    "reviews:results": (("page",), None),
    "reviews:results_csv": ((), None),
    "reviews:queue": (("show", "page"), None),
    "reviews:accept_all": (None, ("show", "page")),
    "reviews:decide": (None, DECISION),
    "reviews:link": ((), None),
    "reviews:audit": (AUDIT, None),
    "reviews:audit_csv": (AUDIT, None),
}

# Values that have broken parsers before, mixed with whatever Hypothesis makes up.
NASTY = [
    "", " ", "0", "-1", "-0", "1.5", "1e309", "NaN", "inf", "0x10", str(10**30), str(-(10**30)),
    "9" * 400, "2147483648", "9223372036854775808", "0001-01-01", "9999-12-31", "10000-01-01",
    "0000-00-00", "2026-02-30", "2026-13-01", "-2026-01-01", "9999-12-31T23:59",
    "0001-01-01T00:00", "1970-01-01 00:00", "\x00", "a\x00b", "\u202egnp.exe", "\ufeff",
    "\ud7ff", "\U0010ffff", "'; DROP TABLE reviews_reviewitem; --", "<script>alert(1)</script>",
    "../../etc/passwd", "%00", "%", "principal", "-principal", "nosuchcolumn", "-nosuchcolumn",
    "principal__tenant__tenant_id", "__class__", "on", "off", "true", "false", "approve",
    "revoke", "dont_know", "pending", "decided", "all", "owners", "named", "selected",
    "on_date", "after_cycles", "never", "monthly", "once", "weekly", "1,2,3", "7, 3, 1",
    "999999999999999999999", "-5, 3", "3;;;", "ﬁ", "İ", "\r\n", "a" * 5000,
]  # fmt: skip

text_values = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=40),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.dates().map(str),
)
# Bytes that need not be UTF-8 (lone surrogates, overlong forms, stray continuation bytes),
# percent-encoded as a browser or a script would send them.
raw_values = st.binary(max_size=24).map(lambda b: quote_from_bytes(b, safe=""))


def pairs_for(names: tuple[str, ...]) -> st.SearchStrategy[list[tuple[str, str]]]:
    """A list of (name, value) pairs, with repeated and unknown keys."""
    known = st.sampled_from(names) if names else st.nothing()
    key = st.one_of(known, known, st.text(max_size=10))
    return st.lists(st.tuples(key, text_values), max_size=8)


def query_string(pairs: list[tuple[str, str]], raw: list[tuple[str, str]]) -> str:
    """Encoded text pairs, then raw percent-encoded byte pairs."""
    encoded = urlencode(pairs)
    extra = "&".join(f"{quote_from_bytes(k.encode(), safe='')}={v}" for k, v in raw)
    return "&".join(part for part in (encoded, extra) if part)


def table_checksums() -> dict[str, tuple[int, str]]:
    """Row count and a digest of every row of every table, in one query. Sessions and
    django-axes' attempt log are left out: they record the request itself (a refused password
    is meant to be counted)."""
    skip = {"django_session", "axes_accessattempt", "axes_accesslog", "axes_accessfailurelog"}
    tables = sorted({m._meta.db_table for m in apps.get_models(include_auto_created=True)} - skip)
    digest = "SELECT %s, count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), ''))"
    sql = " UNION ALL ".join(f'{digest} FROM "{table}" t' for table in tables)
    with connection.cursor() as cursor:
        cursor.execute(sql, tables)
        return {table: (count, md5) for table, count, md5 in cursor.fetchall()}


def signed_in(user) -> Client:
    """A browser with this user's session and a CSRF cookie, whose POSTs are really checked."""
    client = Client(enforce_csrf_checks=True)
    if user is not None:
        client.force_login(user)
    client.cookies["csrftoken"] = CSRF
    return client


def answered(name: str, response) -> bool:
    """Not a server error; starting a sign-in says 503 on purpose while Entra ID is not set up."""
    if name == "signin" and response.status_code == 503:
        return True
    return response.status_code < 500


def refused(response) -> bool:
    """Whether the request was turned down: an error status, a form shown again with its
    errors, a card with an error, or a redirect that carries an error message."""
    if response.status_code >= 400:
        return True
    context = response.context or {}
    if response.status_code == 200:
        form = context.get("form")
        if form is not None and getattr(form, "errors", None):
            return True
        if context.get("error"):
            return True
        # The password form answers 200 with its errors; a signed-in user is redirected.
        if response.wsgi_request.path == reverse("login"):
            return True
    storage = getattr(response.wsgi_request, "_messages", None)
    queued = getattr(storage, "_queued_messages", [])
    return any(m.level >= message_levels.ERROR for m in queued)


def path_for(world: World, name: str, hostile: str, pk: int | None = None) -> str:
    """The URL with real objects in its arguments, or `pk` (0, or too large for any column)
    in place of the object's; the link's token is the hostile text."""
    if name == "reviews:link":
        return reverse(name, args=[hostile.replace("/", "") or "x"])
    by_name: dict[str, int] = {
        "identities:principal": world.items["payroll"].principal.pk,
        "reviews:decide": world.items["payroll"].pk,
    }
    pattern = dict(url_names())[name]
    if not pattern.pattern.converters:
        return reverse(name)
    if name not in by_name:
        by_name[name] = world.campaign.pk if name.startswith("reviews:campaign") else world.cycle.pk
    return reverse(name, args=[by_name[name] if pk is None else pk])


# Mostly the real object; sometimes an id no row has, past 32 and 64 bits included.
object_ids = st.one_of(st.none(), st.none(), st.sampled_from([0, 2**31, 2**63, 10**30]))


def valid_campaign(world: World) -> dict[str, Any]:
    """A campaign form that is accepted as it is, so that one hostile field at a time is what
    gets tested, past the form's first checks."""
    start = timezone.localtime() + timedelta(hours=1)
    return {
        "name": "Hostile input review",
        "description": "",
        "role_scope": "privileged",
        "kinds": "both",
        "reviewer_mode": "owners",
        "reviewers": [str(world.reviewer_b.pk)],
        "start_at": start.strftime("%Y-%m-%dT%H:%M"),
        "frequency": "monthly",
        "duration_days": "14",
        "end_mode": "never",
        "reminder_days": "7, 3",
        "default_decision": "keep",
        "justification": "none",
        "lookback_days": "30",
        "invitation_text": "",
    }


def post_body(base: dict[str, Any], pairs, raw) -> str:
    """The valid fields (if any) with the hostile pairs replacing theirs, then raw bytes."""
    replaced = {k for k, _ in pairs}
    kept = [
        (k, v)
        for k, values in base.items()
        if k not in replaced
        for v in (values if isinstance(values, list) else [values])
    ]
    return query_string(kept + list(pairs), raw)


@pytest.fixture
def world(db, settings, monkeypatch):
    settings.AZURE_TENANT_ID = "11111111-1111-1111-1111-111111111111"
    settings.AZURE_CLIENT_ID = ""
    monkeypatch.setattr("identities.tasks.sync_tenant.delay", lambda **kw: None)
    return make_world()


def test_every_url_has_its_parameters_listed():
    names = {name for name, _ in url_names()}
    assert names - PARAMETERS.keys() == set(), "URLs without a row in PARAMETERS"
    assert PARAMETERS.keys() - names == set(), "rows for URLs that no longer exist"


# A dozen examples per URL keeps the file near half a minute; raise it for a longer hunt.
FUZZ = settings(
    max_examples=int(os.environ.get("HOSTILE_INPUT_EXAMPLES", "12")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
GET_NAMES = sorted(name for name, (get, _post) in PARAMETERS.items() if get is not None)
POST_NAMES = sorted(name for name, (_get, post) in PARAMETERS.items() if post is not None)


@pytest.mark.parametrize("name", GET_NAMES)
def test_it_never_answers_500_to_a_hostile_query_string(world, name):
    get_params = PARAMETERS[name][0]
    clients = {"admin": signed_in(world.admin), "reviewer": signed_in(world.reviewer_a)}

    @FUZZ
    @given(
        pairs=pairs_for(get_params),
        raw=st.lists(st.tuples(st.sampled_from(get_params or ("x",)), raw_values), max_size=3),
        hostile=st.one_of(text_values, raw_values),
        pk=object_ids,
        htmx=st.booleans(),
    )
    def ask(pairs, raw, hostile, pk, htmx):
        path = path_for(world, name, hostile, pk)
        extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        for persona, client in clients.items():
            before = table_checksums()
            response = client.get(path, QUERY_STRING=query_string(pairs, raw), **extra)
            assert answered(name, response), (persona, path, pairs, raw)
            if response.get("Content-Type", "").startswith("text/csv"):
                b"".join(response.streaming_content if response.streaming else [response.content])
            assert table_checksums() == before, f"GET {name} as {persona} wrote to the database"

    ask()


@pytest.mark.parametrize("name", POST_NAMES)
def test_it_never_answers_500_to_hostile_form_fields_and_a_refusal_writes_nothing(world, name):
    post_fields = PARAMETERS[name][1]
    clients = {"admin": signed_in(world.admin), "reviewer": signed_in(world.reviewer_a)}
    base = valid_campaign(world) if post_fields == CAMPAIGN else {}

    @FUZZ
    @given(
        pairs=pairs_for(post_fields),
        raw=st.lists(st.tuples(st.sampled_from(post_fields or ("x",)), raw_values), max_size=3),
        pk=object_ids,
        htmx=st.booleans(),
    )
    def send(pairs, raw, pk, htmx):
        path = path_for(world, name, "", pk)
        extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        for persona, client in clients.items():
            before = table_checksums()
            response = client.post(
                path,
                post_body(base, pairs, raw),
                content_type="application/x-www-form-urlencoded",
                HTTP_X_CSRFTOKEN=CSRF,
                **extra,
            )
            assert answered(name, response), (persona, path, pairs, raw)
            if refused(response):
                assert table_checksums() == before, (
                    f"POST {name} as {persona} was refused ({response.status_code}) "
                    f"but wrote to the database"
                )
            if name == "logout":
                client.force_login(world.admin if persona == "admin" else world.reviewer_a)

    send()


def test_it_refuses_a_post_without_the_csrf_token(world):
    """The fuzzing above runs with CSRF checks on: without the token nothing gets through."""
    client = signed_in(world.reviewer_a)
    before = table_checksums()
    response = client.post(
        reverse("reviews:decide", args=[world.items["payroll"].pk]),
        {"decision": "revoke", "justification": "x"},
    )
    assert response.status_code == 403
    assert table_checksums() == before


def test_a_link_token_of_any_shape_is_refused_cleanly(world):
    client = signed_in(world.reviewer_a)
    good = make_token(world.reviewer_a, world.cycle)
    for token in (good + "x", good[:-1], "x" * 5000, "a:b:c:d", "\u202e", good.upper()):
        response = client.get(reverse("reviews:link", args=[token]))
        assert response.status_code in (400, 410), token


def test_the_checksum_sees_any_write(world):
    """The harness itself: one changed character in one row is a different checksum."""
    before = table_checksums()
    ReviewItem.objects.filter(pk=world.items["payroll"].pk).update(justification="x")
    assert table_checksums() != before


@pytest.mark.parametrize("name", ["identities:inventory", "identities:sync"])
def test_an_unknown_sort_is_dropped_before_the_table_sees_it(world, name):
    """A sort the table does not offer is ignored without django-tables2 turning it into an
    attribute path (which it warns about, and stops resolving in a later version)."""
    client = signed_in(world.admin)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for sort in ("principal.__class__", "-x.y", "principal__tenant__tenant_id", "-kind"):
            assert client.get(reverse(name), {"sort": sort}).status_code == 200


def test_the_sign_in_callback_never_answers_500_to_a_hostile_answer(graph_settings, sim, db):
    """The callback is public and its query comes from whoever holds the browser: with a real
    sign-in in progress (the state matches), any code, error or extra parameter is refused
    cleanly and signs nobody in."""
    graph_settings.SITE_URL = "http://127.0.0.1:8000"  # the redirect URI the app registers
    callback_keys = ("code", "error", "error_description", "session_state", "client_info")

    @FUZZ
    @given(
        pairs=pairs_for(callback_keys),
        raw=st.lists(st.tuples(st.sampled_from(callback_keys), raw_values), max_size=2),
    )
    def answer(pairs, raw):
        client = Client()
        start = client.get(reverse("signin"))
        assert start.status_code == 302
        state = parse_qs(urlsplit(start["Location"]).query)["state"][0]
        before = table_checksums()
        query = query_string([("state", state), *pairs], raw)
        response = client.get(reverse("signin_callback"), QUERY_STRING=query)
        assert response.status_code < 500, (pairs, raw)
        assert "_auth_user_id" not in client.session
        assert table_checksums() == before

    answer()
