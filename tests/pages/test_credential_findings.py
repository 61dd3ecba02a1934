"""Credential findings: what a reviewer is told about a credential before keeping a privilege."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from identities.credentials import Finding, credential_findings

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
FIC = [{"id": "f1", "issuer": "https://token.actions.githubusercontent.com", "subject": "repo:a/b"}]


def secret(start: datetime | None, end: datetime | None, key_id: str = "k1") -> dict:
    return {
        "kind": "secret",
        "keyId": key_id,
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
    }


def codes(credentials, federated=()) -> list[str]:
    return [f.code for f in credential_findings(list(credentials), list(federated), NOW)]


def test_a_two_year_secret_is_a_long_secret_with_its_end_date():
    start = NOW - timedelta(days=10)
    [finding] = credential_findings([secret(start, start + timedelta(days=730))], [], NOW)
    assert finding == Finding("long_secret", "Secret valid 2 years (until 2028-11-20)", "k1")


def test_a_secret_valid_exactly_365_days_is_not_long():
    start = NOW - timedelta(days=1)
    assert codes([secret(start, start + timedelta(days=365))]) == []


def test_a_secret_valid_a_second_over_365_days_is_long():
    start = NOW - timedelta(days=1)
    [finding] = credential_findings(
        [secret(start, start + timedelta(days=365, seconds=1))], [], NOW
    )
    assert finding.code == "long_secret"
    assert finding.text == "Secret valid 365 days (until 2027-11-30)"


def test_a_long_lived_certificate_is_not_a_long_secret():
    cert = {"kind": "certificate", "keyId": "c1", "start": NOW.isoformat(), "end": "2031-01-01"}
    assert codes([cert]) == []


def test_a_credential_without_an_end_date_has_no_expiry():
    cert = {"kind": "certificate", "keyId": "c1", "start": NOW.isoformat(), "end": None}
    assert credential_findings([cert], [], NOW) == [
        Finding("no_expiry", "Certificate without expiry", "c1")
    ]
    assert codes([{"kind": "secret", "keyId": "k2"}]) == ["no_expiry"]


def test_a_far_future_placeholder_end_is_no_expiry():
    assert codes([secret(NOW, datetime(2299, 12, 31, tzinfo=UTC))]) == ["no_expiry"]
    assert codes([{"kind": "secret", "end": "9999-12-31T23:59:59Z"}]) == ["no_expiry"]


def test_an_unreadable_end_date_counts_as_no_expiry():
    for garbage in ("2024-13-45T99:99:99Z", "soon", 12, {"odd": True}, "0001-01-01T00:00:00Z"):
        assert codes([{"kind": "secret", "keyId": "k", "end": garbage}]) == ["no_expiry"], garbage


def test_a_secret_with_an_unreadable_start_is_judged_on_the_time_it_has_left():
    long_left = {
        "kind": "secret",
        "start": "yesterday",
        "end": (NOW + timedelta(days=400)).isoformat(),
    }
    short_left = {
        "kind": "secret",
        "start": "yesterday",
        "end": (NOW + timedelta(days=30)).isoformat(),
    }
    assert codes([long_left]) == ["long_secret"]
    assert codes([short_left]) == []


def test_an_expired_credential_raises_nothing():
    start = NOW - timedelta(days=800)
    assert codes([secret(start, NOW - timedelta(days=1))], FIC) == []
    assert codes([secret(start, NOW)], FIC) == []


def test_a_secret_beside_a_federated_credential_is_flagged():
    start = NOW - timedelta(days=10)
    [finding] = credential_findings([secret(start, start + timedelta(days=90))], FIC, NOW)
    assert finding.code == "secret_beside_federated"
    assert finding.key_id == "k1"
    assert "federated credential" in finding.text
    assert "may not be needed" in finding.text


def test_a_certificate_beside_a_federated_credential_is_not_flagged():
    cert = {"kind": "certificate", "keyId": "c1", "end": (NOW + timedelta(days=90)).isoformat()}
    assert codes([cert], FIC) == []


def test_a_secret_can_carry_several_findings_in_order():
    start = NOW - timedelta(days=10)
    creds = [secret(start, start + timedelta(days=30), "a"), secret(start, None, "b")]
    found = credential_findings(creds, FIC, NOW)
    assert [(f.key_id, f.code) for f in found] == [
        ("a", "secret_beside_federated"),
        ("b", "no_expiry"),
        ("b", "secret_beside_federated"),
    ]


def test_garbage_lists_and_items_raise_nothing():
    assert credential_findings(None, None, NOW) == []  # type: ignore[arg-type]
    assert credential_findings(["x", 3, None], [], NOW) == []
    assert codes([secret(NOW, NOW + timedelta(days=30))], ["not a dict"]) == []
