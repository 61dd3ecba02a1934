"""An admin in Chromium: signs in through the simulated Entra page, syncs, reads the inventory
(in which hostile display names from Graph stay text), creates a quarterly campaign and starts
it now: the worker starts its first cycle."""

from __future__ import annotations

import re

import pytest

from identities.models import SyncRun
from reviews.models import Campaign, Cycle
from tests.integration.polling import wait_for

from .screenshots import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def person(sim, role):
    return next(p for p in sim.tenant.demo_people() if role in p.roles)


def sign_in(page, site: str, sim, who) -> None:
    page.goto(site + "/")
    screenshot(page, "login")
    page.get_by_role("link", name="Sign in with Microsoft").click()
    page.wait_for_url(re.compile(re.escape(sim.authority_host)))
    page.locator(f'button[name="user_id"][value="{who.user_id}"]').click()
    page.wait_for_url(re.compile(re.escape(site)))


def test_an_admin_signs_in_syncs_and_starts_a_quarterly_campaign(page, site, sim):
    hostile = sorted(sim.tenant.expected_privileged_sp_assignments())[0][0]
    sim.tenant.rename_principal(hostile, '<img src=x onerror="alert(1)">Evil app')

    sign_in(page, site, sim, person(sim, "Admin"))
    assert page.get_by_role("link", name="Sync").count() >= 1

    page.goto(site + "/sync/")
    page.get_by_role("button", name="Sync now").click()

    def finished():
        """the worker to finish the sync"""
        return SyncRun.objects.exclude(status="running").first()

    run = wait_for(finished, timeout=90)
    assert run.status == "succeeded", f"{run.error_code}: {run.error_message}"
    page.reload()
    page.locator(".badge-success", has_text="succeeded").first.wait_for()
    screenshot(page, "sync")

    page.goto(site + "/inventory/?q=Evil")
    cell = page.get_by_text('<img src=x onerror="alert(1)">Evil app').first
    cell.wait_for()
    assert page.locator("img[src=x]").count() == 0
    screenshot(page, "inventory")

    # A quarterly campaign, through the form as a person fills it in, started now.
    page.goto(site + "/reviews/campaigns/new/")
    page.get_by_label("Name", exact=True).fill("Quarterly review of privileged service principals")
    page.get_by_label("Frequency", exact=True).select_option("quarterly")
    page.get_by_label("Duration (days)").fill("14")
    page.get_by_label("Named or fallback reviewers", exact=True).select_option(index=0)
    page.get_by_label("Start now").check()
    screenshot(page, "campaign-form")
    page.get_by_role("button", name=re.compile("Create|Save|Schedule")).click()
    page.wait_for_url(re.compile(r"/reviews/campaigns/\d+/$"))
    campaign = Campaign.objects.get()
    assert (campaign.frequency, campaign.duration_days) == ("quarterly", 14)
    page.get_by_text("its first review is starting").wait_for()

    # "Start now" queued a tick: the worker starts cycle 1 without waiting for beat's minute.
    def started():
        """the worker to start the campaign's first cycle"""
        return Cycle.objects.filter(campaign=campaign).first()

    cycle = wait_for(started, timeout=60)
    assert cycle.number == 1 and cycle.items.exists()
    page.reload()
    page.get_by_text("#1").first.wait_for()
    screenshot(page, "campaign")

    assert list(page.problems) == []
