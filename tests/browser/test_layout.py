"""Every page at a desk (1280 px) and on a phone (390 px), in Chromium: nothing pushes the page
sideways (wide tables scroll inside their own region), the heading and the navigation are in
view, and no page logs an error. Read by an admin, a reviewer and someone signed out."""

from __future__ import annotations

import pytest
from django.urls import reverse

from reviews.models import Cycle, ItemReviewer, ReviewItem
from tests.factories import (
    make_application,
    make_assignment,
    make_grant,
    make_permission,
    make_principal,
    make_role,
    make_tenant,
    owner,
)

from .screenshots import screenshot
from .test_admin_journey import person, sign_in
from .test_admin_pages import running_cycle  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESK = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

# How far the page can be scrolled sideways, and which elements stick out past the viewport
# (their tag, class and text, so a failure names the culprit). Elements inside a region that
# scrolls on its own are fine: that is where wide tables belong.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const culprits = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.right <= width + 1) continue;
    let inner = el.parentElement, scrolls = false;
    while (inner && inner !== document.body) {
      const style = getComputedStyle(inner);
      if (['auto', 'scroll', 'hidden'].includes(style.overflowX)) { scrolls = true; break; }
      inner = inner.parentElement;
    }
    if (!scrolls) culprits.push(`${el.tagName.toLowerCase()}.${el.className}: `
      + (el.textContent || '').trim().slice(0, 40));
  }
  return {extra: document.documentElement.scrollWidth - width, culprits: culprits.slice(0, 5)};
}"""


def fits(page, what: str) -> None:
    """The page does not scroll sideways, and its main heading and navigation are on screen."""
    found = page.evaluate(OVERFLOW)
    assert found["extra"] <= 1 and not found["culprits"], (
        f"{what} is wider than the screen: {found}"
    )
    # Short tables fit a desk whole and stack into one block per row on a phone: their box
    # never scrolls sideways (only the long, dense tables do: inventory, results, audit).
    wide = page.evaluate(
        """() => [...document.querySelectorAll('table.stack')]
          .map(t => [t.getAttribute('aria-label') || t.parentElement.getAttribute('aria-label'),
                     t.parentElement.scrollWidth - t.parentElement.clientWidth])
          .filter(([, extra]) => extra > 1)"""
    )
    assert not wide, f"{what}: a short table scrolls sideways: {wide}"
    # Filter fields of every type (text, number, date, select) look alike: one height.
    heights = page.evaluate(
        """() => [...document.querySelectorAll(
                 '.filter-grid input:not([type=checkbox]), .filter-grid select')]
               .map(e => Math.round(e.getBoundingClientRect().height))"""
    )
    assert len(set(heights)) <= 1 or max(heights) - min(heights) <= 2, f"{what}: {heights}"
    heading = page.locator("h1").first
    assert heading.is_visible(), f"{what} has no visible heading"
    box = heading.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"] + 1, what


def visit(page, site: str, path: str, name: str, shots: set[str] | None = None) -> None:
    for size, suffix in ((DESK, ""), (PHONE, "-phone")):
        page.set_viewport_size(size)
        response = page.goto(site + path)
        assert response.status == 200, f"{name}: {response.status}"
        fits(page, f"{name} at {size['width']} px")
        if shots and name in shots and suffix:
            screenshot(page, name + suffix)


def test_every_page_fits_a_desk_and_a_phone(chromium, page, site, sim, running_cycle):  # noqa: F811
    cycle = Cycle.objects.get(pk=running_cycle)
    item = ReviewItem.objects.filter(cycle=cycle).order_by("pk").first()

    visit(page, site, reverse("login"), "login")

    sign_in(page, site, sim, person(sim, "Admin"))
    admin_pages = {
        "overview": reverse("overview"),
        "inventory": reverse("identities:inventory"),
        "inventory-filtered": reverse("identities:inventory") + "?q=a&ownerless=on&page=1",
        "principal": reverse("identities:principal", args=[item.principal_id]),
        "sync": reverse("identities:sync"),
        "campaigns": reverse("reviews:campaigns"),
        "campaign-new": reverse("reviews:campaign_new"),
        "campaign-detail": reverse("reviews:campaign_detail", args=[cycle.campaign_id]),
        "campaign-edit": reverse("reviews:campaign_edit", args=[cycle.campaign_id]),
        "cycle": reverse("reviews:cycle_detail", args=[cycle.pk]),
        "results": reverse("reviews:results", args=[cycle.pk]),
        "audit": reverse("reviews:audit"),
        "my-reviews-admin": reverse("reviews:my_reviews"),
    }
    for name, path in admin_pages.items():
        visit(page, site, path, name, shots={"overview", "cycle", "inventory"})
    # The overview's chart is read whole on a phone, without scrolling its box sideways.
    page.set_viewport_size(PHONE)
    page.goto(site + reverse("overview"))
    chart = page.locator(".role-chart").evaluate(
        "t => [t.parentElement.scrollWidth, t.parentElement.clientWidth]"
    )
    assert chart[0] <= chart[1] + 1, f"the role chart scrolls sideways on a phone: {chart}"
    # On a phone the navigation wraps below the brand: every link still on screen and clickable.
    links = page.locator("nav a")
    assert links.count() >= 4
    for i in range(links.count()):
        box = links.nth(i).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 1
    page.get_by_role("link", name="Inventory").first.click()
    page.wait_for_url(f"**{reverse('identities:inventory')}")
    assert list(page.problems) == []

    # A reviewer with items in this cycle, in a browser of their own.
    people = {p.user_id: p for p in sim.tenant.demo_people()}
    assigned = ItemReviewer.objects.filter(item__cycle=cycle, user__username__in=list(people))
    who = people[assigned.select_related("user").first().user.username]
    context = chromium.new_context(viewport=PHONE, ignore_https_errors=True)
    reviewer = context.new_page()
    errors: list[str] = []
    reviewer.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    reviewer.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(reviewer, site, sim, who)
    visit(reviewer, site, reverse("reviews:my_reviews"), "my-reviews", shots={"my-reviews"})
    visit(reviewer, site, reverse("reviews:queue", args=[cycle.pk]), "queue")
    # The decision buttons of the first card are on screen at phone width, side by side or wrapped.
    reviewer.set_viewport_size(PHONE)
    card = reviewer.locator(".review-item").first
    for name in ("Approve", "Revoke"):
        box = card.get_by_role("button", name=name).bounding_box()
        assert box and box["x"] + box["width"] <= PHONE["width"] + 1, name
    context.close()
    assert errors == []


def test_privilege_pages_fit_a_desk_and_a_phone(page, site, sim, settings):
    """The inventory with application permissions and tiers, and a principal page with every
    part of "who can act as it", built from rows (not a sync) so that each part is present."""
    tenant = make_tenant(settings.AZURE_TENANT_ID, "Contoso (simulated)")
    reason = "Can grant itself any application permission, and so any directory role: Tier 0."
    role = make_role(tenant, "Privileged Authentication Administrator")
    role.tier, role.tier_reason = 0, reason
    role.save()
    permissions = [
        make_permission(tenant, "AppRoleAssignment.ReadWrite.All", tier=0, tier_reason=reason),
        make_permission(tenant, "RoleManagement.ReadWrite.Directory", tier=0, tier_reason=reason),
        make_permission(
            tenant,
            "full_access_as_app",
            resource_name="Office 365 Exchange Online",
            resource_app_id="00000002-0000-0ff1-ce00-000000000000",
            tier=1,
            tier_reason="Reads and sends the mail of every mailbox in the organisation.",
        ),
        make_permission(
            tenant, "Sites.FullControl.All", resource_name="Office 365 SharePoint Online"
        ),
    ]
    long_upn = "a.very-long-owner-name.for-layout@subsidiary.contoso-holdings.example"
    principal = make_principal(
        tenant,
        "Deployment automation for the finance data platform (production)",
        owners=[owner("u-1", "Fiona Finance-Operations") | {"userPrincipalName": long_upn}],
        credentials=[
            {"kind": "certificate", "keyId": "c1", "displayName": "prod cert", "end": None}
        ],
    )
    make_assignment(principal, role)
    for permission in permissions:
        make_grant(principal, permission)
    make_application(
        tenant,
        principal,
        owners=[owner("u-2", "Ben Builder"), owner("sp-9", "Release pipeline", "servicePrincipal")],
        credentials=[
            {
                "kind": "secret",
                "keyId": "s1",
                "displayName": "two-year secret",
                "start": "2026-01-01T00:00:00Z",
                "end": "2028-01-01T00:00:00Z",
            }
        ],
        federated_credentials=[
            {
                "id": "f1",
                "name": "github-production-environment-deployments",
                "issuer": "https://token.actions.githubusercontent.com",
                "subject": "repo:contoso-finance/data-platform-deployments:environment:production",
                "audiences": ["api://AzureADTokenExchange"],
            },
            {
                "id": "f2",
                "name": "any-branch",
                "issuer": "https://token.actions.githubusercontent.com",
                "audiences": ["api://AzureADTokenExchange"],
                "claimsMatchingExpression": {
                    "value": "claims['sub'] matches 'repo:contoso-finance/*:ref:refs/heads/*'"
                },
            },
        ],
    )
    sign_in(page, site, sim, person(sim, "Admin"))
    inventory = reverse("identities:inventory")
    visit(page, site, inventory, "inventory-privileges")
    visit(page, site, inventory + "?privilege_type=app_permission&tier=0", "inventory-tier-0")
    visit(page, site, reverse("identities:principal", args=[principal.pk]), "principal-privileges")
    page.set_viewport_size(DESK)
    page.goto(site + reverse("identities:principal", args=[principal.pk]))
    # The reason is on the page as text, not only in a tooltip.
    assert page.get_by_text(reason).first.is_visible()
    assert page.get_by_text("broader than it looks").is_visible()
    assert list(page.problems) == []
