"""An admin in Chromium: signs in through the simulated Entra page, syncs, reads the inventory,
in which hostile display names from Graph stay text."""

from __future__ import annotations

import re

import pytest

from .conftest import screenshot

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


def test_an_admin_signs_in_syncs_and_reads_the_inventory(page, site, sim):
    hostile = sorted(sim.tenant.expected_privileged_sp_assignments())[0][0]
    sim.tenant.rename_principal(hostile, '<img src=x onerror="alert(1)">Evil app')

    sign_in(page, site, sim, person(sim, "Admin"))
    assert page.get_by_role("link", name="Sync").count() >= 1

    page.goto(site + "/sync/")
    page.get_by_role("button", name="Sync now").click()
    page.locator(".badge-success", has_text="succeeded").first.wait_for(timeout=60_000)
    screenshot(page, "sync")

    page.goto(site + "/inventory/?q=Evil")
    cell = page.get_by_text('<img src=x onerror="alert(1)">Evil app').first
    cell.wait_for()
    assert page.locator("img[src=x]").count() == 0
    screenshot(page, "inventory")

    assert list(page.problems) == []
