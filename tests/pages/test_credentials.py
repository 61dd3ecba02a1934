"""Credential rows: what a reviewer reads about a principal's secrets and certificates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from identities.credentials import EXPIRY_WARNING_DAYS, credential_rows
from identities.models import ServicePrincipal

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def ending_in(delta: timedelta) -> dict[str, str]:
    return {"kind": "secret", "end": (NOW + delta).isoformat()}


def only_row(item):
    [row] = credential_rows([item], NOW)
    return row


def test_a_credential_that_ended_is_expired():
    row = only_row(ending_in(-timedelta(days=2)))
    assert row.status == "expired"
    assert row.days_left is None


def test_a_credential_ending_right_now_is_expired():
    assert only_row(ending_in(timedelta(0))).status == "expired"


def test_a_credential_ending_within_the_warning_window_is_expiring():
    row = only_row(ending_in(timedelta(days=10, hours=1)))
    assert row.status == "expiring"
    assert row.days_left == 10


def test_a_credential_ending_in_under_a_day_is_expiring_with_no_whole_day_left():
    row = only_row(ending_in(timedelta(hours=5)))
    assert row.status == "expiring"
    assert row.days_left == 0


def test_the_warning_window_includes_its_last_day():
    assert only_row(ending_in(timedelta(days=EXPIRY_WARNING_DAYS))).status == "expiring"
    later = only_row(ending_in(timedelta(days=EXPIRY_WARNING_DAYS, seconds=1)))
    assert later.status == "valid"


def test_a_credential_ending_later_is_valid():
    row = only_row(ending_in(timedelta(days=300)))
    assert row.status == "valid"
    assert row.days_left == 300


def test_a_credential_without_an_end_date_is_unknown():
    row = only_row({"kind": "secret", "keyId": "k1"})
    assert row.status == "unknown"
    assert row.end is None
    assert row.end_raw == ""
    assert row.days_left is None


def test_a_garbage_end_date_is_unknown_and_kept_for_display():
    for garbage in ("2024-13-45T99:99:99Z", "soon", 12, {"odd": True}):
        row = only_row({"kind": "secret", "start": "yesterday", "end": garbage})
        assert row.status == "unknown", garbage
        assert row.end is None
        assert row.start is None
        assert row.end_raw == str(garbage)


def test_a_year_one_placeholder_end_is_unknown():
    row = only_row({"end": "0001-01-01T00:00:00Z"})
    assert row.status == "unknown"
    assert row.end_raw == "0001-01-01T00:00:00Z"


def test_a_naive_end_date_is_read_as_utc():
    row = only_row({"end": "2030-06-02T12:00:00"})
    assert row.end == NOW + timedelta(days=1)


def test_it_copies_the_descriptive_fields_as_text():
    row = only_row(
        {
            "kind": "certificate",
            "displayName": "signing cert",
            "keyId": "k-1",
            "type": "AsymmetricX509Cert",
            "usage": None,
            "start": "2030-01-01T00:00:00Z",
        }
    )
    assert (row.kind, row.display_name, row.key_id) == ("certificate", "signing cert", "k-1")
    assert (row.type, row.usage) == ("AsymmetricX509Cert", "")
    assert row.start == datetime(2030, 1, 1, tzinfo=UTC)


def test_items_that_are_not_dicts_are_skipped():
    rows = credential_rows(["not a dict", None, 5, ["end"], ending_in(timedelta(days=1))], NOW)
    assert [row.status for row in rows] == ["expiring"]


def test_a_stored_value_that_is_not_a_list_gives_no_rows():
    for stored in (None, {}, "secret", 3):
        assert credential_rows(stored, NOW) == []


def test_rows_are_sorted_soonest_expiry_first_and_unknown_last():
    items = [
        {"keyId": "late", **ending_in(timedelta(days=90))},
        {"keyId": "unknown", "end": "?"},
        {"keyId": "early", **ending_in(-timedelta(days=1))},
    ]
    assert [row.key_id for row in credential_rows(items, NOW)] == ["early", "late", "unknown"]


def test_the_principal_method_reads_its_credentials_at_the_given_time():
    principal = ServicePrincipal(credentials=[ending_in(timedelta(days=40))])
    assert [row.status for row in principal.credential_rows(now=NOW)] == ["valid"]
    later = NOW + timedelta(days=20)
    assert [row.status for row in principal.credential_rows(now=later)] == ["expiring"]
