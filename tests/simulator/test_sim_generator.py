"""The tenant generator: deterministic, exact in size, and rich in special cases and noise."""

from __future__ import annotations

from collections import defaultdict

import pytest

from entrasim import generate_tenant
from entrasim.generate import HOSTILE_NAMES
from entrasim.roles import GLOBAL_ADMINISTRATOR

from .simgraph import NOW


def test_same_size_and_seed_give_the_same_tenant():
    first = generate_tenant(privileged_assignments=80, seed=4, now=NOW)
    again = generate_tenant(privileged_assignments=80, seed=4, now=NOW)
    other_seed = generate_tenant(privileged_assignments=80, seed=5, now=NOW)

    assert first.to_json() == again.to_json()
    assert first.tenant_id != other_seed.tenant_id
    assert first.expected_privileged_sp_assignments() != (
        other_seed.expected_privileged_sp_assignments()
    )


@pytest.mark.parametrize("size", [0, 1, 10, 73, 400])
def test_the_tenant_holds_exactly_the_requested_number_of_privileged_sp_grants(size):
    tenant = generate_tenant(privileged_assignments=size, seed=9, now=NOW)

    assert len(tenant.expected_privileged_sp_assignments()) == size


def test_grants_are_spread_over_about_size_over_two_and_a_half_principals():
    tenant = generate_tenant(privileged_assignments=1000, seed=1, now=NOW)
    holders = tenant.principal_ids_with_privileged_roles()

    assert 1000 / 3.5 < len(holders) < 1000 / 1.8
    scopes = {scope for _, _, scope, _ in tenant.expected_privileged_sp_assignments()}
    assert "/" in scopes
    assert any(s.startswith("/administrativeUnits/") for s in scopes)
    assert any(s != "/" and not s.startswith("/administrativeUnits/") for s in scopes)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_a_tiny_tenant_contains_every_special_case(seed):
    tenant = generate_tenant(privileged_assignments=10, seed=seed, now=NOW)
    expected = tenant.expected_privileged_sp_assignments()
    holders = [tenant.service_principals[i] for i in {e[0] for e in expected}]
    roles_per_holder = defaultdict(set)
    for principal_id, role_id, _, _ in expected:
        roles_per_holder[principal_id].add(role_id)
    pim_active = [
        s
        for s in tenant.assignment_schedules
        if s.member_type == "Direct" and s.principal_id in tenant.service_principals
    ]
    non_sp_holders = tenant.role_holders_that_are_not_service_principals()
    all_sps = tenant.service_principals.values()

    cases = {
        "hostile name": any(sp.display_name in HOSTILE_NAMES for sp in holders),
        "user holder": bool(non_sp_holders & set(tenant.users)),
        "group holder": bool(non_sp_holders & set(tenant.groups)),
        "eligible": any(kind == "eligible" for *_, kind in expected),
        "PIM active": bool(pim_active),
        "activated with end date": any(
            s.assignment_type == "Activated" and s.end_date_time for s in pim_active
        ),
        "AU scope": any(scope.startswith("/administrativeUnits/") for _, _, scope, _ in expected),
        "multi-role": any(len(roles) > 1 for roles in roles_per_holder.values()),
        "owner-less": any(not sp.owner_ids for sp in holders),
        "disabled": any(not sp.account_enabled for sp in holders),
        "managed identity": any(sp.sp_type == "ManagedIdentity" for sp in holders),
        "multi-tenant": any(
            sp.app_owner_organization_id not in (None, tenant.tenant_id) for sp in holders
        ),
        "never signed in": any(sp.sign_in is None for sp in holders),
        "group-membership entry": any(
            s.member_type == "Group" for s in tenant.assignment_schedules
        ),
        "sp with ordinary roles only": any(
            sp.id not in roles_per_holder
            and tenant.role_assignments.by_principal(sp.id)
            + tenant.eligibility_schedules.by_principal(sp.id)
            for sp in all_sps
        ),
        "expired credential": any(
            c["endDateTime"] < NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
            for sp in holders
            for c in sp.key_credentials + sp.password_credentials
        ),
    }

    assert [name for name, present in cases.items() if not present] == []


def test_expected_assignments_exclude_users_groups_ordinary_roles_and_inherited_entries():
    tenant = generate_tenant(privileged_assignments=30, seed=6, now=NOW)
    before = tenant.expected_privileged_sp_assignments()
    user_id, group_id = next(iter(tenant.users)), next(iter(tenant.groups))
    sp_id = next(
        sp
        for sp in tenant.service_principals
        if sp not in tenant.principal_ids_with_privileged_roles()
    )
    ordinary = next(r.id for r in tenant.role_definitions.values() if not r.is_privileged)

    tenant.add_role_assignment(user_id, GLOBAL_ADMINISTRATOR, "/", kind="active")
    tenant.add_role_assignment(group_id, GLOBAL_ADMINISTRATOR, "/", kind="eligible")
    tenant.add_role_assignment(sp_id, ordinary, "/", kind="active")
    tenant.add_role_assignment(
        sp_id, GLOBAL_ADMINISTRATOR, "/", kind="pim_active", member_type="Group"
    )
    assert tenant.expected_privileged_sp_assignments() == before
    assert {user_id, group_id} <= tenant.role_holders_that_are_not_service_principals()

    tenant.add_role_assignment(sp_id, GLOBAL_ADMINISTRATOR, "/", kind="pim_active")
    assert tenant.expected_privileged_sp_assignments() == before | {
        (sp_id, GLOBAL_ADMINISTRATOR, "/", "active")
    }


def test_mutation_helpers_keep_listings_and_expectations_in_step():
    tenant = generate_tenant(privileged_assignments=20, seed=8, now=NOW)
    entry = sorted(tenant.expected_privileged_sp_assignments())[0]

    assert tenant.remove_assignment(*entry) >= 1
    assert entry not in tenant.expected_privileged_sp_assignments()
    assert tenant.remove_assignment(*entry) == 0

    tenant.add_role_assignment(entry[0], entry[1], entry[2], kind=entry[3])
    assert entry in tenant.expected_privileged_sp_assignments()

    tenant.rename_principal(entry[0], "Renamed, with a comma")
    assert tenant.service_principals[entry[0]].display_name == "Renamed, with a comma"
    with pytest.raises(ValueError):
        tenant.add_role_assignment(entry[0], entry[1], kind="permanent")
