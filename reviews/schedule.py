"""When cycles start: the n-th start is computed from the campaign's first start, never from
the previous cycle, so a month-end start does not drift (Jan 31 → Feb 29 → Mar 31)."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta

MONTHS = {"monthly": 1, "quarterly": 3, "semi_annually": 6, "annually": 12}
PERIOD_DAYS = {"once": None, "weekly": 7, "monthly": 28, "quarterly": 89, "semi_annually": 181,
               "annually": 365}  # fmt: skip


def add_months(moment: datetime, months: int) -> datetime:
    """Same day and time `months` later, clamped to the last day of a shorter month."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def nth_start(first: datetime, frequency: str, n: int) -> datetime | None:
    """Start of the cycle numbered n (0 is the first); None when the frequency is once."""
    if n == 0:
        return first
    if frequency == "once":
        return None
    if frequency == "weekly":
        return first + timedelta(weeks=n)
    return add_months(first, MONTHS[frequency] * n)


def shortest_period_days(frequency: str) -> int | None:
    """The fewest days between two starts: a cycle must end before the next one begins."""
    return PERIOD_DAYS[frequency]


def next_start(
    first: datetime,
    frequency: str,
    started: int,
    *,
    end_mode: str = "never",
    end_date: date | None = None,
    end_after: int | None = None,
) -> datetime | None:
    """Start of the next cycle after `started` cycles, or None when the campaign is over."""
    if end_mode == "after_cycles" and end_after is not None and started >= end_after:
        return None
    moment = nth_start(first, frequency, started)
    if moment is None:
        return None
    if end_mode == "on_date" and end_date is not None and moment.date() > end_date:
        return None
    return moment


def latest_due(first: datetime, frequency: str, started: int, now: datetime) -> int:
    """Index of the latest start at or before `now`, at least `started` (missed starts while the
    scheduler was down are skipped: one cycle, not a burst of them)."""
    n = started
    while True:
        following = nth_start(first, frequency, n + 1)
        if following is None or following > now:
            return n
        n += 1
