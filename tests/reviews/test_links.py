"""Signed links in review emails: who they lead where, and what a damaged or old one does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail, signing
from django.urls import reverse
from django.utils import timezone

from accounts.models import EntraAccount
from reviews import emails, links, services
from reviews.models import Cycle
from tests.factories import login

SITE = "https://spreview.contoso.example"


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = SITE


def path_of(link: str) -> str:
    assert link.startswith(f"{SITE}/reviews/l/")
    return link.removeprefix(SITE)


def queue_url(world) -> str:
    return reverse("reviews:queue", args=[world.cycle.pk])


# --------------------------------------------------------------------------- the token


def test_a_link_names_its_reviewer_and_cycle(world):
    link = links.make_link(world.reviewer_a, world.cycle)
    token = path_of(link).split("/")[3]

    assert links.read_link(token) == (world.reviewer_a.pk, world.cycle.pk)


def test_a_link_is_bound_to_the_reviewers_entra_object_id(world):
    token = links.make_token(world.reviewer_a, world.cycle)
    account = world.reviewer_a.entra
    account.object_id = "someone-else-now"
    account.save()

    with pytest.raises(links.BadLink):
        links.read_link(token)


def test_a_link_for_a_local_account_still_works_after_it_links_entra_id(world):
    token = links.make_token(world.outsider, world.cycle)
    EntraAccount.objects.create(user=world.outsider, tenant=world.tenant, object_id="oid-otto")

    assert links.read_link(token) == (world.outsider.pk, world.cycle.pk)


def test_a_link_expires_at_the_end_of_its_cycle(world):
    token = links.make_token(world.reviewer_a, world.cycle)

    assert links.read_link(token, now=world.cycle.ends_at - timedelta(seconds=1))
    with pytest.raises(links.LinkExpired):
        links.read_link(token, now=world.cycle.ends_at)


@pytest.mark.parametrize(
    "damage",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # signature changed
        lambda t: t[:20],  # cut short
        lambda t: "garbage",
        lambda t: signing.dumps({"u": 1, "c": 1}, salt="another.salt"),  # signed elsewhere
    ],
)
def test_a_damaged_link_is_refused(world, damage):
    token = links.make_token(world.reviewer_a, world.cycle)
    with pytest.raises(links.BadLink):
        links.read_link(damage(token))


def test_a_token_with_a_changed_payload_is_refused(world):
    token = links.make_token(world.reviewer_a, world.cycle)
    payload = signing.loads(token, salt=links.SALT)
    forged = signing.dumps({**payload, "u": world.reviewer_b.pk}, salt="not-the-salt")
    with pytest.raises(links.BadLink):
        links.read_link(forged)


# --------------------------------------------------------------------------- the landing page


def test_the_reviewer_signed_in_is_sent_to_their_queue(world):
    link = links.make_link(world.reviewer_a, world.cycle)

    response = login(world.reviewer_a).get(path_of(link))

    assert response.status_code == 302
    assert response["Location"] == queue_url(world)


def test_the_link_in_the_invitation_opens_the_reviewers_queue(world):
    mail.outbox.clear()
    emails.send_invitations(world.cycle.pk)
    [message] = [m for m in mail.outbox if m.to == ["anna-reviewer@contoso.example"]]
    [link] = [w for w in message.body.split() if w.startswith(f"{SITE}/reviews/l/")]

    response = login(world.reviewer_a).get(path_of(link), follow=True)

    assert response.redirect_chain == [(queue_url(world), 302)]
    assert b"Payroll connector" in response.content
    assert b"Backup agent" in response.content


def test_signed_out_the_link_goes_to_sign_in_and_comes_back_to_the_queue(world):
    link_path = path_of(links.make_link(world.reviewer_a, world.cycle))
    client = login(None)

    response = client.get(link_path)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={link_path.replace(':', '%3A')}"
    assert "_auth_user_id" not in client.session  # the link signs nobody in

    client.force_login(world.reviewer_a)  # what the sign-in does before following `next`
    again = client.get(link_path)
    assert again.status_code == 302
    assert again["Location"] == queue_url(world)


def test_a_damaged_link_shows_a_page_saying_so(world):
    token = links.make_token(world.reviewer_a, world.cycle)

    response = login(world.reviewer_a).get(reverse("reviews:link", args=[token[:-2] + "xx"]))

    assert response.status_code == 400
    page = response.content.decode()
    assert "This link is damaged" in page
    assert "latest email" in page
    assert reverse("reviews:my_reviews") in page
    assert response["Referrer-Policy"] == "no-referrer"


def test_a_damaged_link_is_refused_before_sign_in_too(world):
    response = login(None).get(reverse("reviews:link", args=["not-a-token"]))
    assert response.status_code == 400
    assert b"This link is damaged" in response.content


def test_a_link_past_the_cycle_end_shows_that_the_review_ended(world):
    Cycle.objects.filter(pk=world.cycle.pk).update(ends_at=timezone.now() - timedelta(minutes=1))
    world.cycle.refresh_from_db()
    link = links.make_link(world.reviewer_a, world.cycle)  # signed with an end already past

    response = login(world.reviewer_a).get(path_of(link))

    assert response.status_code == 410
    assert b"This review has ended" in response.content
    assert reverse("reviews:my_reviews").encode() in response.content


def test_a_link_whose_cycle_end_has_passed_since_it_was_sent_has_ended(world):
    link = links.make_link(world.reviewer_a, world.cycle)
    Cycle.objects.filter(pk=world.cycle.pk).update(ends_at=timezone.now() - timedelta(minutes=1))

    response = login(world.reviewer_a).get(path_of(link))

    assert response.status_code == 410
    assert b"This review has ended" in response.content


def test_a_link_to_a_stopped_cycle_shows_that_the_review_ended(world):
    link = links.make_link(world.reviewer_a, world.cycle)
    services.stop_cycle(world.cycle.pk, actor=world.admin)

    response = login(world.reviewer_a).get(path_of(link))

    assert response.status_code == 410
    assert b"This review has ended" in response.content


@pytest.mark.parametrize("persona", ["reviewer_b", "admin", "outsider"])
def test_someone_else_signed_in_is_refused_and_sees_nothing_of_the_queue(world, persona):
    link = links.make_link(world.reviewer_a, world.cycle)

    response = login(getattr(world, persona)).get(path_of(link))

    assert response.status_code == 403
    page = response.content.decode()
    assert "This link was sent to another person" in page
    for name in ("Payroll connector", "Backup agent", world.campaign.name):
        assert name not in page
    assert "anna" not in page.lower()
