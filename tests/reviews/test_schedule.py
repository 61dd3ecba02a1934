"""Recurrence: each start computed from the first one, across month ends and leap years."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from reviews.schedule import add_months, latest_due, next_start, nth_start


def at(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("first", "frequency", "expected"),
    [
        (at(2027, 1, 31), "monthly", [at(2027, 1, 31), at(2027, 2, 28), at(2027, 3, 31),
                                      at(2027, 4, 30)]),
        (at(2028, 1, 31), "monthly", [at(2028, 1, 31), at(2028, 2, 29), at(2028, 3, 31)]),
        (at(2026, 11, 30), "quarterly", [at(2026, 11, 30), at(2027, 2, 28), at(2027, 5, 30),
                                         at(2027, 8, 30)]),
        (at(2027, 8, 31), "semi_annually", [at(2027, 8, 31), at(2028, 2, 29), at(2028, 8, 31)]),
        (at(2028, 2, 29), "annually", [at(2028, 2, 29), at(2029, 2, 28), at(2030, 2, 28),
                                       at(2031, 2, 28), at(2032, 2, 29)]),
        (at(2026, 12, 28), "weekly", [at(2026, 12, 28), at(2027, 1, 4), at(2027, 1, 11)]),
    ],
)  # fmt: skip
def test_starts_never_drift(first, frequency, expected):
    assert [nth_start(first, frequency, n) for n in range(len(expected))] == expected


def test_once_has_no_second_start():
    assert nth_start(at(2027, 1, 1), "once", 0) == at(2027, 1, 1)
    assert nth_start(at(2027, 1, 1), "once", 1) is None


def test_adding_months_crosses_year_ends_both_ways():
    assert add_months(at(2026, 12, 15), 1) == at(2027, 1, 15)
    assert add_months(at(2026, 11, 30), 15) == at(2028, 2, 29)


def test_end_after_n_cycles_and_on_a_date():
    first = at(2027, 1, 31)
    assert next_start(first, "monthly", 2, end_mode="after_cycles", end_after=3) == at(2027, 3, 31)
    assert next_start(first, "monthly", 3, end_mode="after_cycles", end_after=3) is None
    end = date(2027, 3, 30)
    assert next_start(first, "monthly", 1, end_mode="on_date", end_date=end) == at(2027, 2, 28)
    assert next_start(first, "monthly", 2, end_mode="on_date", end_date=end) is None
    assert next_start(first, "monthly", 40) == at(2030, 5, 31)


def test_latest_due_skips_missed_starts_but_never_goes_back():
    first = at(2027, 1, 31)
    assert latest_due(first, "monthly", 0, at(2027, 1, 31)) == 0
    assert latest_due(first, "monthly", 0, at(2027, 5, 1)) == 3  # Apr 30 is the latest due
    assert latest_due(first, "monthly", 5, at(2027, 5, 1)) == 5
    assert latest_due(first, "once", 0, at(2030, 1, 1)) == 0
