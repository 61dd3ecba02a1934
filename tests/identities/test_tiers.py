"""Privilege tiers: the built-in classification, the admin's overlay, the community format, and
refusal of a file nobody can use (one line naming the setting, at start-up too)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from identities import tiers
from identities.privileged_roles import PRIVILEGED_TEMPLATE_IDS

ROOT = Path(__file__).resolve().parents[2]
GRAPH = "00000003-0000-0000-c000-000000000000"
EXCHANGE = "00000002-0000-0ff1-ce00-000000000000"
SHAREPOINT = "00000003-0000-0ff1-ce00-000000000000"
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
USER_ADMIN = "fe930be7-5e62-47db-91af-98c3a49a38b1"
ROLE_MANAGEMENT_RW = "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8"
MAIL_READWRITE = "e2a3a72e-5f79-4c64-b1b1-878b674786c9"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def write(tmp_path: Path, data: object, name: str = "tiers.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2))
    return path


def spreview_file(roles: list | None = None, permissions: list | None = None) -> dict:
    return {
        "format": "spreview-tiers/1",
        "directoryRoles": roles or [],
        "applicationPermissions": permissions or [],
    }


# The built-in classification ---------------------------------------------------------------------


def builtin_json() -> dict:
    return json.loads(tiers.BUILT_IN_PATH.read_text(encoding="utf-8"))


def test_the_built_in_file_loads_and_is_spreview_format():
    assert builtin_json()["format"] == "spreview-tiers/1"
    built_in = tiers.built_in()
    assert built_in.role(GLOBAL_ADMIN) == tiers.Tier(
        0, "Holds every administrative permission in the tenant.", "built-in"
    )


def test_every_privileged_built_in_role_has_a_tier():
    built_in = tiers.built_in()
    missing = [name for id_, name in PRIVILEGED_TEMPLATE_IDS.items() if built_in.role(id_) is None]
    assert missing == []


def test_every_built_in_entry_has_a_well_formed_guid_a_tier_and_a_one_line_why():
    data = builtin_json()
    entries = data["directoryRoles"] + data["applicationPermissions"]
    for entry in entries:
        ids = [entry[k] for k in ("templateId", "resourceAppId", "id") if k in entry]
        assert all(GUID.match(i) for i in ids), entry
        assert entry["tier"] in (0, 1, 2), entry
        assert entry["why"].strip() and "\n" not in entry["why"], entry
        assert len(entry["why"]) <= tiers.WHY_MAX_CHARS, entry


def test_the_built_in_file_has_no_duplicate_role_or_permission():
    data = builtin_json()
    role_ids = [e["templateId"] for e in data["directoryRoles"]]
    assert len(role_ids) == len(set(role_ids))
    permissions = data["applicationPermissions"]
    by_id = [(e["resourceAppId"], e["id"]) for e in permissions if "id" in e]
    by_value = [(e["resourceAppId"], e["value"].lower()) for e in permissions]
    assert len(by_id) == len(set(by_id))
    assert len(by_value) == len(set(by_value))


@pytest.mark.parametrize(
    "value",
    [
        "RoleManagement.ReadWrite.Directory",
        "AppRoleAssignment.ReadWrite.All",
        "Application.ReadWrite.All",
        "Directory.ReadWrite.All",
        "Policy.ReadWrite.ConditionalAccess",
        "UserAuthenticationMethod.ReadWrite.All",
        "PrivilegedAccess.ReadWrite.AzureADGroup",
        "RoleManagementPolicy.ReadWrite.Directory",
        "RoleAssignmentSchedule.ReadWrite.Directory",
        "RoleEligibilitySchedule.ReadWrite.Directory",
        "Domain.ReadWrite.All",
        "Policy.ReadWrite.PermissionGrant",
        "Organization.ReadWrite.All",
    ],
)
def test_graph_permissions_with_a_path_to_global_admin_are_tier_0_by_id_and_by_value(value):
    data = builtin_json()
    (entry,) = (
        e
        for e in data["applicationPermissions"]
        if e["resourceAppId"] == GRAPH and e["value"] == value
    )
    built_in = tiers.built_in()
    assert built_in.permission(GRAPH, entry["id"], "").tier == 0
    assert built_in.permission(GRAPH, "", value.upper()).tier == 0


def test_the_reasons_say_what_the_holder_can_do():
    built_in = tiers.built_in()
    assert built_in.permission(GRAPH, ROLE_MANAGEMENT_RW, "").why == (
        "Can assign itself any directory role, Global Administrator included."
    )
    assert (
        "any application permission"
        in built_in.permission(GRAPH, "", "AppRoleAssignment.ReadWrite.All").why
    )
    assert "secret to any app" in built_in.permission(GRAPH, "", "Application.ReadWrite.All").why


@pytest.mark.parametrize(
    ("resource", "value", "tier"),
    [
        (GRAPH, "Mail.ReadWrite", 1),
        (GRAPH, "Files.ReadWrite.All", 1),
        (GRAPH, "Sites.FullControl.All", 1),
        (GRAPH, "User.ReadWrite.All", 1),
        (GRAPH, "Group.ReadWrite.All", 1),
        (GRAPH, "User.Read.All", 2),
        (GRAPH, "Directory.Read.All", 2),
        (EXCHANGE, "full_access_as_app", 1),
        (EXCHANGE, "Exchange.ManageAsApp", 1),
        (SHAREPOINT, "Sites.FullControl.All", 1),
    ],
)
def test_broad_and_read_only_permissions_have_their_tiers(resource, value, tier):
    assert tiers.built_in().permission(resource, "", value).tier == tier


def test_an_unknown_role_or_permission_is_unclassified():
    built_in = tiers.built_in()
    assert built_in.role("00000000-0000-0000-0000-000000000001") is None
    assert built_in.permission(GRAPH, "00000000-0000-0000-0000-000000000001", "Made.Up") is None
    # The same name on another API is another permission.
    assert built_in.permission("11111111-2222-3333-4444-555555555555", "", "Mail.ReadWrite") is None


def test_a_permission_matches_by_id_before_value():
    # The id says Mail.ReadWrite (Tier 1) even when the name given is a Tier 0 one.
    found = tiers.built_in().permission(GRAPH, MAIL_READWRITE, "RoleManagement.ReadWrite.Directory")
    assert found.tier == 1


def test_lookups_ignore_case_of_ids():
    assert tiers.built_in().role(GLOBAL_ADMIN.upper()).tier == 0
    assert tiers.built_in().permission(GRAPH.upper(), ROLE_MANAGEMENT_RW.upper(), "").tier == 0


@pytest.mark.parametrize(
    ("tier", "label"), [(0, "Tier 0"), (1, "Tier 1"), (2, "Tier 2"), (None, "Unclassified")]
)
def test_tier_label(tier, label):
    assert tiers.tier_label(tier) == label


# The admin's own file overlays the built-in one --------------------------------------------------


def test_a_custom_file_changes_a_tier_and_names_itself_as_the_source(tmp_path):
    path = write(
        tmp_path,
        spreview_file(
            roles=[{"templateId": USER_ADMIN, "tier": 0, "why": "Our owners of Tier 0 apps."}],
            permissions=[
                {"resourceAppId": GRAPH, "value": "mail.readwrite", "tier": 0, "why": "CEO mail."}
            ],
        ),
        name="ours.json",
    )
    with override_settings(TIER_CLASSIFICATION_FILE=str(path)):
        current = tiers.classification()
    assert current.role(USER_ADMIN) == tiers.Tier(0, "Our owners of Tier 0 apps.", "ours.json")
    # Matched by value, it replaces the built-in entry matched by id.
    assert current.permission(GRAPH, MAIL_READWRITE, "Mail.ReadWrite") == tiers.Tier(
        0, "CEO mail.", "ours.json"
    )
    # Everything else stays built-in.
    assert current.role(GLOBAL_ADMIN).source == "built-in"
    assert tiers.built_in().role(USER_ADMIN).tier == 1


def test_a_null_tier_removes_the_built_in_entry(tmp_path):
    path = write(
        tmp_path,
        spreview_file(
            roles=[{"templateId": GLOBAL_ADMIN, "tier": None}],
            permissions=[{"resourceAppId": GRAPH, "id": ROLE_MANAGEMENT_RW, "tier": None}],
        ),
    )
    with override_settings(TIER_CLASSIFICATION_FILE=str(path)):
        current = tiers.classification()
    assert current.role(GLOBAL_ADMIN) is None
    assert (
        current.permission(GRAPH, ROLE_MANAGEMENT_RW, "RoleManagement.ReadWrite.Directory") is None
    )
    assert current.permission(GRAPH, "", "Application.ReadWrite.All").tier == 0


def test_without_a_custom_file_the_classification_is_the_built_in_one():
    with override_settings(TIER_CLASSIFICATION_FILE=""):
        current = tiers.classification()
    assert dict(current.roles()) == dict(tiers.built_in().roles())


def test_several_files_overlay_in_order(tmp_path):
    first = write(
        tmp_path,
        spreview_file(roles=[{"templateId": USER_ADMIN, "tier": 2, "why": "First."}]),
        name="first.json",
    )
    second = write(
        tmp_path,
        spreview_file(roles=[{"templateId": USER_ADMIN, "tier": 0, "why": "Second."}]),
        name="second.json",
    )
    with override_settings(TIER_CLASSIFICATION_FILE=f"{first}{os.pathsep}{second}"):
        assert tiers.classification().role(USER_ADMIN) == tiers.Tier(0, "Second.", "second.json")


# The community format (azure-tiering's JSON lists) ------------------------------------------------

COMMUNITY_ROLES = [
    {
        "tier": "0",
        "id": USER_ADMIN,
        "assetName": "User Administrator",
        "assetDefinition": "Manages users.",
        "documentationUri": "https://learn.microsoft.com/en-us/entra/identity/"
        "role-based-access-control/permissions-reference#user-administrator",
        "pathType": "Indirect",
        "shortestPath": "Can reset the password of an owner of a privileged app.  Note: more.",
        "example": "Attacker resets a password.",
    },
    {
        "tier": "1",
        "id": "c430b396-e693-46cc-96f3-db01bf8bb62a",
        "assetName": "Attack Simulation Administrator",
        "assetDefinition": "Runs attack simulations.",
        "documentationUri": "https://learn.microsoft.com/en-us/entra/identity/"
        "role-based-access-control/permissions-reference#attack-simulation-administrator",
        "providesFullAccessTo": "Attack simulations in Defender for Office 365.",
    },
    {
        "tier": "2",
        "id": "88d8e3e3-8f55-4a1e-953a-9b9898b8876b",
        "assetName": "Directory Readers",
        "assetDefinition": "Can read basic directory information.",
        "documentationUri": "https://learn.microsoft.com/en-us/entra/identity/"
        "role-based-access-control/permissions-reference#directory-readers",
    },
]

COMMUNITY_PERMISSIONS = [
    {
        "tier": "0",
        "id": "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
        "assetName": "Application.ReadWrite.All",
        "assetDefinition": "Read and write all apps.",
        "documentationUri": "https://learn.microsoft.com/en-us/graph/permissions-reference",
        "pathType": "Indirect",
        "shortestPath": "Can add a secret to a privileged app and act as it.",
        "example": "...",
    },
    {
        "tier": "0",
        "id": "fc023787-fd04-4e44-9bc7-d454f00c0f0a",
        "assetName": "Application.ReadUpdate.All",
        "assetDefinition": "Read and update all apps.",
        "documentationUri": "https://learn.microsoft.com/en-us/graph/permissions-reference",
        "pathType": "Indirect",
        "shortestPath": "Same as Application.ReadWrite.All.",
        "example": "Same as Application.ReadWrite.All.",
    },
    {
        "tier": "2",
        "id": MAIL_READWRITE,
        "assetName": "Mail.ReadWrite",
        "assetDefinition": "Allows the app to read mail. " + "Very long text " * 30,
        "documentationUri": "https://learn.microsoft.com/en-us/graph/permissions-reference",
    },
]


def test_a_community_roles_file_is_read_with_its_attack_path_as_the_reason(tmp_path):
    loaded = tiers.load(write(tmp_path, COMMUNITY_ROLES, name="tiered-entra-roles.json"))
    assert loaded.role(USER_ADMIN) == tiers.Tier(
        0, "Can reset the password of an owner of a privileged app.", "tiered-entra-roles.json"
    )
    assert loaded.role("c430b396-e693-46cc-96f3-db01bf8bb62a").why == (
        "Full access to attack simulations in Defender for Office 365."
    )
    assert loaded.role("88d8e3e3-8f55-4a1e-953a-9b9898b8876b") == tiers.Tier(
        2, "Can read basic directory information.", "tiered-entra-roles.json"
    )


def test_a_community_permissions_file_is_read_as_microsoft_graph_permissions(tmp_path):
    loaded = tiers.load(write(tmp_path, COMMUNITY_PERMISSIONS))
    assert loaded.permission(GRAPH, "", "application.readwrite.all").tier == 0
    # "Same as X." shows X's path.
    assert loaded.permission(GRAPH, "fc023787-fd04-4e44-9bc7-d454f00c0f0a", "").why == (
        "Can add a secret to a privileged app and act as it."
    )
    mail = loaded.permission(GRAPH, MAIL_READWRITE, "Mail.ReadWrite")
    assert mail.tier == 2
    assert mail.why == "Allows the app to read mail."
    assert loaded.role(USER_ADMIN) is None


def test_a_community_file_overlays_the_built_in_one(tmp_path):
    roles = write(tmp_path, COMMUNITY_ROLES, name="roles.json")
    permissions = write(tmp_path, COMMUNITY_PERMISSIONS, name="permissions.json")
    with override_settings(TIER_CLASSIFICATION_FILE=f"{roles}{os.pathsep}{permissions}"):
        current = tiers.classification()
    assert current.role(USER_ADMIN).tier == 0
    assert current.permission(GRAPH, MAIL_READWRITE, "Mail.ReadWrite").tier == 2
    assert current.permission(GRAPH, ROLE_MANAGEMENT_RW, "").source == "built-in"


def test_a_reason_is_the_first_sentence():
    assert tiers.one_line("Can reset any MFA, e.g. Temporary Access Pass. Note: more.") == (
        "Can reset any MFA, e.g. Temporary Access Pass."
    )


def test_a_long_reason_is_cut_to_one_line():
    text = "Can do a great many things " * 20 + "\n and more."
    line = tiers.one_line(text)
    assert "\n" not in line
    assert len(line) <= tiers.WHY_MAX_CHARS
    assert line.endswith("…")


# Files nobody can use are refused with one line --------------------------------------------------

VALID_ROLE = {"templateId": USER_ADMIN, "tier": 1, "why": "Because."}
VALID_PERMISSION = {"resourceAppId": GRAPH, "value": "Mail.Read", "tier": 1, "why": "Because."}

MALFORMED = {
    "bad JSON": ('{"format": "spreview-tiers/1",\n  "directoryRoles": [}', "not valid JSON: "),
    "unknown format": ({"format": "tiers/2"}, 'unknown format "tiers/2": expected'),
    "object without format": ({"directoryRoles": []}, "unknown format: expected"),
    "not a list or object": ("42", "unknown format: expected"),
    "tier is a word": (
        spreview_file(
            permissions=[
                VALID_PERMISSION,
                VALID_PERMISSION | {"value": "X.Y"},
                VALID_PERMISSION | {"value": "A.B", "tier": "high"},
            ]
        ),
        'entry 3 of applicationPermissions: tier must be 0, 1 or 2, not "high"',
    ),
    "tier 3": (
        spreview_file(roles=[VALID_ROLE | {"tier": 3}]),
        "entry 1 of directoryRoles: tier must be 0, 1 or 2, not 3",
    ),
    "tier true": (
        spreview_file(roles=[VALID_ROLE | {"tier": True}]),
        "entry 1 of directoryRoles: tier must be 0, 1 or 2, not true",
    ),
    "tier missing": (
        spreview_file(roles=[{"templateId": USER_ADMIN, "why": "x"}]),
        "entry 1 of directoryRoles: tier is missing",
    ),
    "why missing": (
        spreview_file(roles=[{"templateId": USER_ADMIN, "tier": 0}]),
        "entry 1 of directoryRoles: why is missing",
    ),
    "why on two lines": (
        spreview_file(roles=[VALID_ROLE | {"why": "One.\nTwo."}]),
        "entry 1 of directoryRoles: why must be one line",
    ),
    "template id not a GUID": (
        spreview_file(roles=[VALID_ROLE | {"templateId": "User Administrator"}]),
        'entry 1 of directoryRoles: templateId must be a GUID, not "User Administrator"',
    ),
    "template id missing": (
        spreview_file(roles=[{"tier": 1, "why": "x"}]),
        "entry 1 of directoryRoles: templateId is missing",
    ),
    "duplicate role": (
        spreview_file(roles=[VALID_ROLE, VALID_ROLE | {"tier": 0}]),
        f"entry 2 of directoryRoles: templateId {USER_ADMIN} repeats entry 1",
    ),
    "duplicate permission id": (
        spreview_file(
            permissions=[
                VALID_PERMISSION | {"id": MAIL_READWRITE},
                VALID_PERMISSION | {"id": MAIL_READWRITE, "value": "Other.Name"},
            ]
        ),
        "entry 2 of applicationPermissions: same id as entry 1",
    ),
    "duplicate permission value": (
        spreview_file(permissions=[VALID_PERMISSION, VALID_PERMISSION | {"value": "MAIL.READ"}]),
        "entry 2 of applicationPermissions: same value as entry 1",
    ),
    "permission without id or value": (
        spreview_file(permissions=[{"resourceAppId": GRAPH, "tier": 1, "why": "x"}]),
        "entry 1 of applicationPermissions: needs an id (the appRole id) or a value",
    ),
    "permission without resource": (
        spreview_file(permissions=[{"value": "Mail.Read", "tier": 1, "why": "x"}]),
        "entry 1 of applicationPermissions: resourceAppId is missing",
    ),
    "misspelt key": (
        spreview_file(roles=[VALID_ROLE | {"teir": 1}]),
        'entry 1 of directoryRoles: unknown key "teir"',
    ),
    "roles not a list": (
        {"format": "spreview-tiers/1", "directoryRoles": {"a": 1}},
        'directoryRoles must be a list, not {"a": 1}',
    ),
    "entry not an object": (
        spreview_file(permissions=["Mail.Read"]),
        'entry 1 of applicationPermissions: must be an object, not "Mail.Read"',
    ),
    "community list without tiers": (
        [{"id": USER_ADMIN, "assetName": "User Administrator", "assetDefinition": "x"}],
        "entry 1 (User Administrator): tier is missing",
    ),
    "community tier out of range": (
        [COMMUNITY_ROLES[0] | {"tier": "3"}],
        'entry 1 (User Administrator): tier must be 0, 1 or 2, not "3"',
    ),
    "community duplicate": (
        [COMMUNITY_ROLES[0], COMMUNITY_ROLES[0]],
        "entry 2 (User Administrator): same id as entry 1",
    ),
    "azure resource roles": (
        [
            {
                "tier": "0",
                "id": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
                "assetName": "Owner",
                "assetDefinition": "Full access.",
                "documentationUri": "https://learn.microsoft.com/en-us/azure/"
                "role-based-access-control/built-in-roles#owner",
            }
        ],
        "entry 1 (Owner): an Azure resource role, not an Entra role or Graph permission",
    ),
}


@pytest.mark.parametrize(("content", "problem"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_file_is_refused_with_one_line_naming_the_setting(tmp_path, content, problem):
    path = write(tmp_path, content)
    with pytest.raises(tiers.TierFileError) as refused:
        tiers.load(path)
    message = str(refused.value)
    assert message.startswith(f"TIER_CLASSIFICATION_FILE={path}: ")
    assert problem in message
    assert "\n" not in message


def test_bad_json_is_refused_with_its_line_and_column(tmp_path):
    path = write(tmp_path, '{\n  "format": "spreview-tiers/1",\n  "directoryRoles": [}\n')
    with pytest.raises(tiers.TierFileError, match=r"at line 3, column 22$"):
        tiers.load(path)


def test_a_missing_file_is_refused(tmp_path):
    path = tmp_path / "nowhere.json"
    with pytest.raises(tiers.TierFileError) as refused:
        tiers.load(path)
    assert str(refused.value) == (
        f"TIER_CLASSIFICATION_FILE={path}: cannot be read: No such file or directory"
    )


def test_a_file_that_is_not_text_is_refused(tmp_path):
    path = tmp_path / "tiers.json"
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(tiers.TierFileError, match=r"not UTF-8 text$"):
        tiers.load(path)


def test_the_setting_is_checked_through_classification(tmp_path):
    path = write(tmp_path, "[")
    with (
        override_settings(TIER_CLASSIFICATION_FILE=str(path)),
        pytest.raises(tiers.TierFileError, match=r"^TIER_CLASSIFICATION_FILE="),
    ):
        tiers.classification()


# Start-up -----------------------------------------------------------------------------------------


def manage_check(tmp_path: Path, setting: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TIER_CLASSIFICATION_FILE": setting}
    env["SPREVIEW_VAR_DIR"] = str(tmp_path / "var")
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow  # starts manage.py in its own process
def test_manage_py_refuses_to_start_with_a_malformed_file_in_one_line(tmp_path):
    path = write(tmp_path, spreview_file(roles=[VALID_ROLE | {"tier": "high"}]))
    result = manage_check(tmp_path, str(path))
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        f"TIER_CLASSIFICATION_FILE={path}: entry 1 of directoryRoles: tier must be 0, 1 or 2, "
        'not "high"'
    ]
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.slow  # starts manage.py in its own process
def test_manage_py_starts_with_a_valid_custom_file(tmp_path):
    path = write(tmp_path, spreview_file(roles=[VALID_ROLE]))
    result = manage_check(tmp_path, str(path))
    assert result.returncode == 0, result.stderr


def test_the_documented_example_is_a_valid_file(tmp_path):
    docs = (ROOT / "docs" / "tiers.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"```json\n(.*?)```", docs, flags=re.S)
    loaded = tiers.load(write(tmp_path, example, name="example.json"))
    assert loaded.role(USER_ADMIN).tier == 0
    assert loaded.role("f2ef992c-3afb-46b9-b7cf-a126ee74c451") is None
    assert loaded.permission(SHAREPOINT, "", "sites.selected").tier == 2
