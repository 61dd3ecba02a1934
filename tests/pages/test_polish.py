"""Every page: dates, labels, empty states, messages, navigation and filters across pages."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

from django.conf import settings
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from identities.dates import relative_hint, time_html
from reviews import services
from reviews.models import AuditEvent, Decision
from tests.factories import login, make_assignment, make_principal

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


# --- dates -----------------------------------------------------------------------------------


def test_time_carries_the_iso_instant_the_zone_and_a_relative_hint():
    html = time_html(NOW + timedelta(days=3), now=NOW)
    assert '<time datetime="2030-06-04T12:00:00+00:00" data-local="datetime"' in html
    assert ">2030-06-04 12:00 UTC</time>" in html
    assert '<span class="relative">(in 3 days)</span>' in html


def test_relative_hints_read_naturally():
    assert relative_hint(NOW - timedelta(hours=2, minutes=5), NOW) == "2 hours ago"
    assert relative_hint(NOW + timedelta(days=3, hours=4), NOW) == "in 3 days"
    assert relative_hint(NOW - timedelta(seconds=20), NOW) == "just now"
    assert relative_hint(NOW - timedelta(days=400), NOW) == "1 year ago"


def test_date_style_and_exact_style():
    assert ">2030-06-01</time>" in time_html(NOW, "date", now=NOW)
    assert 'data-local="date"' in time_html(NOW, "date", now=NOW)
    exact = time_html(NOW, hint=False)
    assert "relative" not in exact and exact.endswith("</time>")
    assert time_html(None) == ""
    assert time_html(date(2030, 6, 1)) == '<time datetime="2030-06-01">2030-06-01</time>'


def test_the_template_filter_renders_the_same_markup_and_escapes_nothing_twice():
    value = timezone.now() - timedelta(hours=2, minutes=1)
    html = Template("{% load time_tags %}{{ value|when }}").render(Context({"value": value}))
    assert html.startswith(f'<time datetime="{value.isoformat()}"')
    assert "(2 hours ago)" in html
    assert Template("{% load time_tags %}{{ value|when }}").render(Context({"value": None})) == ""


def test_the_browser_rewrites_times_into_its_own_zone_from_a_static_script(as_admin, tenant):
    content = as_admin.get(reverse("overview")).content.decode()
    assert '<script src="/static/js/local-time.js" defer></script>' in content
    script = (Path(settings.BASE_DIR) / "static/js/local-time.js").read_text()
    assert "Intl.DateTimeFormat" in script and "time[data-local]" in script
    assert "htmx:load" in script  # fragments swapped in later are localized too


# --- labels ----------------------------------------------------------------------------------


class FieldLabels(HTMLParser):
    """Form controls a person fills in, and whether each has a name a screen reader reads."""

    def __init__(self) -> None:
        super().__init__()
        self.label_for: set[str] = set()
        self.open_labels = 0
        self.controls: list[dict[str, str]] = []

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "label":
            self.open_labels += 1
            if a.get("for"):
                self.label_for.add(a["for"])
        elif tag in ("input", "select", "textarea"):
            if a.get("type") in ("hidden", "submit", "button", "reset"):
                return
            a["_tag"] = tag
            a["_wrapped"] = "yes" if self.open_labels else ""
            self.controls.append(a)

    def handle_endtag(self, tag):
        if tag == "label":
            self.open_labels -= 1

    def unlabelled(self) -> list[str]:
        return [
            f"{c['_tag']} name={c.get('name')} id={c.get('id')}"
            for c in self.controls
            if not (
                c["_wrapped"]
                or c.get("aria-label")
                or c.get("aria-labelledby")
                or (c.get("id") and c["id"] in self.label_for)
            )
        ]


def fields_of(content: bytes) -> FieldLabels:
    parser = FieldLabels()
    parser.feed(content.decode())
    return parser


def test_every_field_of_the_main_forms_has_a_label(world, anonymous):
    admin = login(world.admin)
    pages = {
        "inventory": admin.get(reverse("identities:inventory")),
        "audit": admin.get(reverse("reviews:audit")),
        "new campaign": admin.get(reverse("reviews:campaign_new")),
        "edit campaign": admin.get(reverse("reviews:campaign_edit", args=[world.campaign.pk])),
        "queue": login(world.reviewer_a).get(reverse("reviews:queue", args=[world.cycle.pk])),
        "sign-in": anonymous.get(reverse("login")),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        parser = fields_of(response.content)
        assert parser.controls, f"{name}: no field found, the parser missed the form"
        assert parser.unlabelled() == [], name


def test_the_label_checker_finds_a_bare_field():
    assert fields_of(b'<input name="q">').unlabelled() == ["input name=q id=None"]
    assert fields_of(b'<label for="q">Q</label><input id="q" name="q">').unlabelled() == []
    assert fields_of(b'<label><input type="checkbox" name="x"> X</label>').unlabelled() == []


# --- empty states ----------------------------------------------------------------------------


def test_inventory_before_the_first_sync_says_who_starts_one(as_admin, as_auditor, db):
    admin = as_admin.get(reverse("identities:inventory")).content.decode()
    assert "No sync has run yet" in admin and "start the first one on the" in admin
    auditor = as_auditor.get(reverse("identities:inventory")).content.decode()
    assert "an admin can start one" in auditor


def test_empty_campaigns_and_audit_say_what_to_do_next(as_admin, as_auditor, tenant):
    content = as_admin.get(reverse("reviews:campaigns")).content.decode()
    assert "No campaign yet" in content and "Schedule the first review" in content
    assert reverse("reviews:campaign_new") in content
    assert "An admin schedules review campaigns" in (
        as_auditor.get(reverse("reviews:campaigns")).content.decode()
    )
    assert not AuditEvent.objects.exists()
    content = as_admin.get(reverse("reviews:audit")).content.decode()
    assert "Nothing logged yet" in content and "Entries appear here" in content


def test_an_emptied_queue_points_back_to_the_reviews(world):
    for item in world.items_of(world.reviewer_a):
        services.record_decision(item.pk, Decision.REVOKE, "", actor=world.reviewer_a)
    content = (
        login(world.reviewer_a).get(reverse("reviews:queue", args=[world.cycle.pk])).content
    ).decode()
    assert "All done" in content and reverse("reviews:my_reviews") in content


def test_my_reviews_empty_state_says_what_happens_next(world):
    content = login(world.outsider).get(reverse("reviews:my_reviews")).content.decode()
    assert "Nothing waits for you" in content
    assert "you get an email with a link" in content


def test_my_reviews_shows_what_is_due_when(world):
    content = login(world.reviewer_a).get(reverse("reviews:my_reviews")).content.decode()
    assert "<h1>Your reviews</h1>" in content
    assert "2 items wait for your decision" in content
    assert f'datetime="{world.cycle.ends_at.isoformat()}"' in content
    assert "(in 1 week)" in content or "(in 2 weeks)" in content
    world.cycle.ends_at = timezone.now() + timedelta(days=1)
    world.cycle.save(update_fields=["ends_at"])
    content = login(world.reviewer_a).get(reverse("reviews:my_reviews")).content.decode()
    assert "due soon" in content


# --- messages and navigation -----------------------------------------------------------------


def test_errors_are_alerts_and_confirmations_are_status(as_admin, tenant, settings, queued_syncs):
    response = as_admin.post(reverse("identities:sync_start"), follow=True)
    assert '<p class="message message-success" role="status">Sync queued</p>' in (
        response.content.decode()
    )
    settings.AZURE_TENANT_ID = ""
    content = as_admin.post(reverse("identities:sync_start"), follow=True).content.decode()
    assert 'class="message message-error" role="alert"' in content
    assert "No tenant is configured" in content


def test_overview_comes_first_in_the_navigation_of_readers_only(world):
    content = login(world.auditor).get(reverse("reviews:campaigns")).content.decode()
    nav = content.split('<nav class="mainnav"')[1].split("</nav>")[0]
    assert nav.index(reverse("overview")) < nav.index(reverse("identities:inventory"))
    content = login(world.reviewer_a).get(reverse("reviews:my_reviews")).content.decode()
    nav = content.split('<nav class="mainnav"')[1].split("</nav>")[0]
    assert reverse("overview") not in nav


# --- filters across pages --------------------------------------------------------------------


def test_inventory_filters_and_page_size_survive_pagination(as_admin, tenant, global_admin_role):
    for n in range(30):
        make_assignment(make_principal(tenant, f"App {n:02d}"), global_admin_role)
    content = as_admin.get(
        reverse("identities:inventory") + "?kind=active&per_page=25&sort=role"
    ).content.decode()
    links = [part.split('"')[0] for part in content.split('href="?')[1:]]
    next_link = next(link for link in links if ("&amp;" + link).count("&amp;page=2"))
    assert "kind=active" in next_link and "per_page=25" in next_link and "sort=role" in next_link


def test_audit_filters_survive_pagination(as_admin, db):
    for n in range(60):
        AuditEvent.objects.create(actor_label="system", action="reviews.test", summary=f"#{n}")
    content = as_admin.get(reverse("reviews:audit") + "?actor=system").content.decode()
    assert 'href="?actor=system&amp;page=2"' in content


# --- layout ----------------------------------------------------------------------------------


def test_the_stylesheet_keeps_headers_sticky_tables_scrolling_and_nav_wrapping():
    css = (Path(settings.BASE_DIR) / "static/css/app.css").read_text()
    sticky = css.split("table.data thead th {")[1].split("}")[0]
    assert "position: sticky" in sticky and "top: 0" in sticky
    assert "overflow: auto" in css.split(".table-scroll {")[1].split("}")[0]
    assert "flex-wrap: wrap" in css.split(".mainnav {")[1].split("}")[0]
    assert ":focus-visible" in css
    assert "@media (max-width: 640px)" in css
