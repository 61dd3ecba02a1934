"""The demo says whom to pick at the simulated sign-in page, and each choice is real."""

from __future__ import annotations

from demo.management.commands.demo import demo_people_lines


def test_it_names_the_admin_the_auditor_and_owners_who_review(sim_tenant):
    lines = demo_people_lines(sim_tenant)

    people = {p.display_name: p for p in sim_tenant.demo_people()}
    admins = [line for line in lines if line.endswith("(admin)")]
    auditors = [line for line in lines if line.endswith("(auditor)")]
    reviewers = [line for line in lines if "(reviewer:" in line]
    assert len(admins) == 1 and len(auditors) == 1
    assert "Admin" in people[admins[0].removesuffix(" (admin)")].roles
    assert 1 <= len(reviewers) <= 2
    owners = {
        owner
        for principal_id, *_ in sim_tenant.expected_privileged_sp_assignments()
        for owner in sim_tenant.service_principals[principal_id].owner_ids
    }
    for line in reviewers:
        name = line.split(" (reviewer:")[0]
        assert people[name].user_id in owners and not people[name].roles
