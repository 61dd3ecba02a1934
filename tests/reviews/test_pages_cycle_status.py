"""An applied cycle is shown green only when nothing is left to do: removals that failed, or
that must be done by hand in Entra ID, turn its badge amber with their count on every page that
shows the cycle's state."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from reviews.models import ApplyStatus, Cycle, ReviewItem
from tests.factories import login

PAGES = (
    ("reviews:campaigns", "campaign"),
    ("reviews:campaign_detail", "campaign"),
    ("reviews:cycle_detail", "cycle"),
    ("reviews:results", "cycle"),
)


def applied(world, **statuses: str) -> None:
    Cycle.objects.filter(pk=world.cycle.pk).update(
        status=Cycle.Status.APPLIED, applied_at=timezone.now()
    )
    for key, status in statuses.items():
        ReviewItem.objects.filter(pk=world.items[key].pk).update(apply_status=status)


def badges(world, url_name: str, arg: str) -> list[str]:
    args = [] if url_name == "reviews:campaigns" else [getattr(world, arg).pk]
    page = login(world.auditor).get(reverse(url_name, args=args))
    assert page.status_code == 200
    return re.findall(
        r'<span class="badge (badge-\w+)">Applied([^<]*)</span>', page.content.decode()
    )


@pytest.mark.parametrize(("url_name", "arg"), PAGES)
def test_failed_and_manual_removals_make_an_applied_cycle_amber(world, url_name, arg):
    applied(world, payroll=ApplyStatus.FAILED, backup=ApplyStatus.MANUAL, crm=ApplyStatus.APPLIED)
    assert badges(world, url_name, arg) == [("badge-warning", " · 2 need attention")]


@pytest.mark.parametrize(("url_name", "arg"), PAGES)
def test_an_applied_cycle_with_nothing_left_is_green(world, url_name, arg):
    applied(world, payroll=ApplyStatus.APPLIED, backup=ApplyStatus.ALREADY_GONE)
    assert badges(world, url_name, arg) == [("badge-success", "")]


def test_one_item_left_reads_in_the_singular(world):
    applied(world, payroll=ApplyStatus.FAILED)
    assert badges(world, "reviews:cycle_detail", "cycle") == [
        ("badge-warning", " · 1 needs attention")
    ]
