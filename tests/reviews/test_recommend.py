"""Recommendations read the principal's own evidence; unknown activity is never inactivity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from reviews.recommend import recommend

NOW = datetime(2027, 6, 1, tzinfo=UTC)


def principal(**fields):
    values = {
        "account_enabled": True,
        "sign_in_known": True,
        "last_sign_in_at": NOW - timedelta(days=3),
        "credentials": [{"kind": "password", "end": (NOW + timedelta(days=90)).isoformat()}],
    }
    values.update(fields)
    return SimpleNamespace(**values)


@pytest.mark.parametrize(
    ("fields", "expected", "reason"),
    [
        ({}, "approve", "Signed in within the last 30 days"),
        ({"account_enabled": False}, "revoke", "disabled"),
        ({"last_sign_in_at": None}, "revoke", "Never signed in"),
        ({"last_sign_in_at": NOW - timedelta(days=31)}, "revoke", "No sign-in in the last 30"),
        ({"last_sign_in_at": NOW - timedelta(days=29)}, "approve", "Signed in"),
        (
            {
                "credentials": [
                    {"end": "2020-01-01T00:00:00+00:00"},
                    {"end": "2021-01-01T00:00:00Z"},
                ]
            },
            "revoke",
            "expired",
        ),
        (
            {
                "credentials": [
                    {"end": "2020-01-01T00:00:00+00:00"},
                    {"end": "2099-01-01T00:00:00Z"},
                ]
            },
            "approve",
            "Signed in",
        ),
        ({"credentials": []}, "approve", "Signed in"),  # managed identities have none
        ({"sign_in_known": False, "last_sign_in_at": None}, "approve", "not available"),
    ],
)
def test_recommendation_and_reason(fields, expected, reason):
    got, why = recommend(principal(**fields), NOW, 30)
    assert got == expected
    assert reason in why


def test_the_look_back_is_the_campaigns():
    idle_for_45_days = principal(last_sign_in_at=NOW - timedelta(days=45))
    assert recommend(idle_for_45_days, NOW, 30)[0] == "revoke"
    assert recommend(idle_for_45_days, NOW, 60)[0] == "approve"
