"""A name from Graph with a right-to-left override ("\u202egnp.exe", shown as "exe.png") is
isolated wherever it is shown: inside <bdi> on pages and in HTML email, inside FSI … PDI in
plain text, page titles, attributes and option labels, so it never turns the text around it.
"""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import EntraAccount
from identities.bidi import FSI, PDI, balanced, isolate, isolate_text, needs_isolation
from identities.models import RoleDefinition, ServicePrincipal, Tenant
from reviews import emails
from reviews.models import ReviewItem
from tests.factories import login, make_world

RLO = "\u202e"
SPOOF = RLO + "gnp.exe"
OWNER = RLO + "annA"
ROLE = RLO + "nimdA labolG"
TENANT = RLO + "osotnoC"


# --- the helper ------------------------------------------------------------------------------


def test_it_leaves_a_left_to_right_name_as_it_is():
    assert isolate_text("Payroll connector") == "Payroll connector"
    assert isolate("<b>Payroll</b>") == "&lt;b&gt;Payroll&lt;/b&gt;"
    assert not needs_isolation("Contoso (EU) - 2026, é ü")


def test_it_isolates_overrides_and_right_to_left_letters():
    assert isolate_text(SPOOF) == f"{FSI}{SPOOF}{PDI}"
    assert isolate(SPOOF + "<i>") == f"<bdi>{SPOOF}&lt;i&gt;</bdi>"
    assert needs_isolation("שלום") and needs_isolation("\u200f") and needs_isolation("١٢")


def test_a_stray_pdi_in_the_name_cannot_close_the_isolate_early():
    hostile = "x" + PDI + RLO + "gnp.exe"
    assert isolate_text(hostile) == f"{FSI}x{RLO}gnp.exe{PDI}"
    assert balanced("\u2067a" + PDI + PDI) == "\u2067a" + PDI


# --- pages -----------------------------------------------------------------------------------


class BidiAudit(HTMLParser):
    """Every RLO in the page must be inside <bdi>, or between FSI and PDI in its own text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.loose: list[str] = []
        self.isolated = 0

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value and RLO in value and not isolated_in_text(value):
                self.loose.append(f"<{tag} {name}={value!r}>")
        if tag not in ("br", "img", "input", "meta", "link", "hr", "col", "source", "wbr"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass

    def handle_data(self, data):
        if RLO not in data:
            return
        self.isolated += 1
        if "bdi" not in self.stack and not isolated_in_text(data):
            self.loose.append(f"{'>'.join(self.stack[-3:])}: {data.strip()!r}")


def isolated_in_text(text: str) -> bool:
    """Each RLO sits after an FSI whose PDI comes after it."""
    depth = 0
    for char in text:
        if char == FSI:
            depth += 1
        elif char == PDI:
            depth = max(depth - 1, 0)
        elif char == RLO and depth == 0:
            return False
    return True


def audit(html: str) -> BidiAudit:
    parser = BidiAudit()
    parser.feed(html)
    return parser


@pytest.fixture
def world(db, settings):
    """The review pages' running cycle, whose payroll principal, its role and its owner (the
    reviewer, as Entra names her) carry right-to-left overrides."""
    settings.AZURE_TENANT_ID = "11111111-1111-1111-1111-111111111111"
    world = make_world()
    payroll = world.items["payroll"]
    principal = payroll.principal
    EntraAccount.objects.filter(user=world.reviewer_a).update(display_name=OWNER)
    owners = [{**owner, "displayName": OWNER} for owner in principal.owners]
    ServicePrincipal.objects.filter(pk=principal.pk).update(display_name=SPOOF, owners=owners)
    RoleDefinition.objects.filter(pk=world.role.pk).update(display_name=ROLE)
    Tenant.objects.filter(pk=world.tenant.pk).update(display_name=TENANT)
    ReviewItem.objects.filter(pk=payroll.pk).update(
        principal_name=SPOOF, role_name=ROLE, decided_by=world.reviewer_a, decided_at=timezone.now()
    )
    return world


PAGES = {
    "inventory": lambda w: reverse("identities:inventory"),
    "principal": lambda w: reverse("identities:principal", args=[w.items["payroll"].principal.pk]),
    "queue": lambda w: reverse("reviews:queue", args=[w.cycle.pk]) + "?show=all",
    "cycle": lambda w: reverse("reviews:cycle_detail", args=[w.cycle.pk]),
    "results": lambda w: reverse("reviews:results", args=[w.cycle.pk]),
    "overview": lambda w: reverse("overview"),
    "sync": lambda w: reverse("identities:sync"),
    "campaign": lambda w: reverse("reviews:campaign_detail", args=[w.campaign.pk]),
}
# The pages that list the principal itself.
PRINCIPAL_PAGES = ("inventory", "principal", "queue", "results")


@pytest.mark.parametrize("page", sorted(PAGES))
def test_it_isolates_hostile_names_on_the_page(world, page):
    # The queue is the reviewer's; everything else is read by the admin.
    user = world.reviewer_a if page == "queue" else world.admin
    response = login(user).get(PAGES[page](world))
    assert response.status_code == 200
    html = response.content.decode()
    found = audit(html)
    assert found.isolated, "the page shows none of the hostile names"
    assert found.loose == [], f"names not isolated on the {page} page: {found.loose}"
    if page in PRINCIPAL_PAGES:
        assert f"<bdi>{SPOOF}</bdi>" in html


def test_the_decision_message_isolates_the_names(world):
    client = login(world.reviewer_a)
    response = client.post(
        reverse("reviews:decide", args=[world.items["payroll"].pk]),
        {"decision": "revoke", "justification": "gone"},
        follow=True,
    )
    messages = [str(m) for m in response.context["messages"]]
    assert messages == [f"{FSI}{SPOOF}{PDI} · {FSI}{ROLE}{PDI}: Revoke"]
    assert audit(response.content.decode()).loose == []


def test_the_campaign_form_isolates_role_and_reviewer_labels(world):
    response = login(world.admin).get(reverse("reviews:campaign_new"))
    found = audit(response.content.decode())
    assert found.isolated and found.loose == []


def test_the_inventory_csv_keeps_a_lone_name_exact_and_isolates_names_sharing_a_cell(world):
    principal = world.items["payroll"].principal
    second = {**principal.owners[0], "id": "oid-second", "userPrincipalName": "bob@contoso.example"}
    spoofed = [{**principal.owners[0], "userPrincipalName": OWNER}, second]
    ServicePrincipal.objects.filter(pk=principal.pk).update(owners=spoofed)
    response = login(world.admin).get(reverse("identities:inventory_export"))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    [row] = [r for r in rows if r[1] == principal.object_id]
    assert row[0] == SPOOF  # the evidence is Graph's value, byte for byte
    assert row[13] == f"{FSI}{OWNER}{PDI}; bob@contoso.example"


# --- emails ----------------------------------------------------------------------------------


def test_the_invitation_isolates_hostile_names_in_text_and_html(world, settings):
    settings.SITE_URL = "https://spreview.contoso.example"
    emails.send_invitations(world.cycle.pk)
    [message] = [m for m in mail.outbox if m.to == [world.reviewer_a.email]]
    text = message.body
    assert f"Hello {FSI}{OWNER}{PDI}," in text
    assert f"- {FSI}{SPOOF}{PDI}: {FSI}{ROLE}{PDI}" in text
    assert isolated_in_text(text)
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert f"<li><bdi>{SPOOF}</bdi>: <bdi>{ROLE}</bdi></li>" in html
    found = audit(html)
    assert found.isolated and found.loose == []
