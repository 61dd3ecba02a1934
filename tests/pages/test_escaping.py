"""Names from Graph are attacker-controlled: they must come out escaped everywhere."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from identities.models import SyncRun
from tests.factories import make_assignment, make_principal, make_role, make_run

SCRIPT = '<script>alert("x")</script>'
IMG = '"><img src=x onerror=alert(1)>'


@pytest.fixture
def hostile(tenant):
    role = make_role(tenant, f"Role {SCRIPT}")
    owners = [
        {
            "id": "o1",
            "type": "#microsoft.graph.user",
            "displayName": IMG,
            "userPrincipalName": f"{SCRIPT}@x.test",
            "mail": IMG,
        }
    ]
    scripted = make_principal(
        tenant,
        SCRIPT,
        app_id=IMG,
        tags=[SCRIPT],
        sp_type=SCRIPT,
        owners=owners,
        app_owner_organization_id=IMG,
        credentials=[{"kind": "secret", "keyId": IMG, "displayName": SCRIPT, "end": SCRIPT}],
    )
    imaged = make_principal(tenant, IMG, app_display_name=SCRIPT, sp_type=IMG)
    make_assignment(scripted, role, directory_scope_id=f"/administrativeUnits/{IMG}")
    make_assignment(imaged, role)
    return scripted, imaged


def assert_escaped(content: str) -> None:
    assert SCRIPT not in content
    assert "<img src=x" not in content
    assert "&lt;script&gt;" in content


def test_inventory_escapes_hostile_names(as_auditor, hostile):
    content = as_auditor.get(reverse("identities:inventory")).content.decode()
    assert_escaped(content)
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in content


def test_inventory_escapes_the_search_box_value(as_auditor, hostile):
    content = as_auditor.get(reverse("identities:inventory"), {"q": IMG}).content.decode()
    assert "<img src=x" not in content


def test_principal_page_escapes_hostile_names(as_auditor, hostile):
    for principal in hostile:
        url = reverse("identities:principal", args=[principal.pk])
        content = as_auditor.get(url).content.decode()
        assert_escaped(content)


def test_sync_page_escapes_errors_and_notes(as_auditor, tenant):
    make_run(
        tenant,
        status=SyncRun.Status.FAILED,
        error_code=SCRIPT,
        error_message=IMG,
        request_id=SCRIPT,
        notes=IMG,
        trigger=SCRIPT,
        phase=IMG,
    )
    content = as_auditor.get(reverse("identities:sync")).content.decode()
    assert_escaped(content)
    fragment = as_auditor.get(
        reverse("identities:sync_progress"), headers={"HX-Request": "true"}
    ).content.decode()
    assert_escaped(fragment)


def test_csv_carries_names_as_plain_text(as_auditor, hostile, tenant):
    formula = make_principal(tenant, "=cmd|' /C calc'!A0")
    make_assignment(formula, make_role(tenant, "Privileged Role Administrator"))

    response = as_auditor.get(reverse("identities:inventory_export"))
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    names = {row[0] for row in list(csv.reader(io.StringIO(body)))[1:]}

    assert "&lt;" not in body
    assert names == {SCRIPT, IMG, "'=cmd|' /C calc'!A0"}
