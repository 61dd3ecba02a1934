"""Built-in directory roles the simulated tenant knows, with their real template ids.

Template ids are fixed by Microsoft and identical in every tenant, which is why clients may keep a
fallback list of privileged ones; the simulator must use the same ids for that list to match.
"""

from __future__ import annotations

from typing import NamedTuple


class BuiltInRole(NamedTuple):
    template_id: str
    display_name: str
    privileged: bool
    description: str
    actions: tuple[str, ...]


GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
PRIVILEGED_ROLE_ADMINISTRATOR = "e8611ab8-c189-46e8-94e1-60213ab1f814"
APPLICATION_ADMINISTRATOR = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
CLOUD_APPLICATION_ADMINISTRATOR = "158c047a-c907-4556-b7ef-446551a6b5f7"
PRIVILEGED_AUTHENTICATION_ADMINISTRATOR = "7be44c8a-adaf-4e2a-84d6-ab2649e08a13"
USER_ADMINISTRATOR = "fe930be7-5e62-47db-91af-98c3a49a38b1"

BUILT_IN_ROLES: tuple[BuiltInRole, ...] = (
    BuiltInRole(
        GLOBAL_ADMINISTRATOR,
        "Global Administrator",
        True,
        "Can manage all aspects of Microsoft Entra ID and Microsoft services that use "
        "Microsoft Entra identities.",
        ("microsoft.directory/allEntities/allProperties/allTasks",),
    ),
    BuiltInRole(
        PRIVILEGED_ROLE_ADMINISTRATOR,
        "Privileged Role Administrator",
        True,
        "Can manage role assignments in Microsoft Entra ID, and all aspects of Privileged "
        "Identity Management.",
        ("microsoft.directory/roleAssignments/allProperties/allTasks",),
    ),
    BuiltInRole(
        APPLICATION_ADMINISTRATOR,
        "Application Administrator",
        True,
        "Can create and manage all aspects of app registrations and enterprise apps.",
        ("microsoft.directory/applications/allProperties/allTasks",),
    ),
    BuiltInRole(
        CLOUD_APPLICATION_ADMINISTRATOR,
        "Cloud Application Administrator",
        True,
        "Can create and manage all aspects of app registrations and enterprise apps except "
        "App Proxy.",
        ("microsoft.directory/applications/credentials/update",),
    ),
    BuiltInRole(
        PRIVILEGED_AUTHENTICATION_ADMINISTRATOR,
        "Privileged Authentication Administrator",
        True,
        "Can access to view, set and reset authentication method information for any user "
        "(admin or non-admin).",
        ("microsoft.directory/users/authenticationMethods/create",),
    ),
    BuiltInRole(
        USER_ADMINISTRATOR,
        "User Administrator",
        True,
        "Can manage all aspects of users and groups, including resetting passwords for "
        "limited admins.",
        ("microsoft.directory/users/allProperties/allTasks",),
    ),
    BuiltInRole(
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
        "Security Administrator",
        True,
        "Can read security information and reports, and manage configuration in Microsoft "
        "Entra ID and Office 365.",
        ("microsoft.directory/policies/basic/update",),
    ),
    BuiltInRole(
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
        "Helpdesk Administrator",
        True,
        "Can reset passwords for non-administrators and Helpdesk Administrators.",
        ("microsoft.directory/users/password/update",),
    ),
    BuiltInRole(
        "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",
        "Conditional Access Administrator",
        True,
        "Can manage Conditional Access capabilities.",
        ("microsoft.directory/conditionalAccessPolicies/allProperties/allTasks",),
    ),
    BuiltInRole(
        "c4e39bd9-1100-46d3-8c65-fb160da0071f",
        "Authentication Administrator",
        True,
        "Can access to view, set and reset authentication method information for any "
        "non-admin user.",
        ("microsoft.directory/users/authenticationMethods/basic/update",),
    ),
    BuiltInRole(
        "3a2c62db-5318-420d-8d74-23affee5d9d5",
        "Intune Administrator",
        True,
        "Can manage all aspects of the Intune product.",
        ("microsoft.directory/devices/allProperties/allTasks",),
    ),
    BuiltInRole(
        "966707d0-3269-4727-9be2-8c3a10f19b9d",
        "Password Administrator",
        True,
        "Can reset passwords for non-administrators and Password Administrators.",
        ("microsoft.directory/users/password/update",),
    ),
    BuiltInRole(
        "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2",
        "Hybrid Identity Administrator",
        True,
        "Can manage Active Directory to Microsoft Entra cloud provisioning and federation "
        "settings.",
        ("microsoft.directory/domains/federation/update",),
    ),
    BuiltInRole(
        "9360feb5-f418-4baa-8175-e2a00bac4301",
        "Directory Writers",
        True,
        "Can read and write basic directory information, for granting access to applications.",
        ("microsoft.directory/groups/create",),
    ),
    BuiltInRole(
        "29232cdf-9323-42fd-ade2-1d097af3e4de",
        "Exchange Administrator",
        False,
        "Can manage all aspects of the Exchange product.",
        ("microsoft.office365.exchange/allEntities/basic/allTasks",),
    ),
    BuiltInRole(
        "fdd7a751-b60b-444a-984c-02652fe8fa1c",
        "Groups Administrator",
        False,
        "Members of this role can create/manage groups, create/manage groups settings like "
        "naming and expiration policies, and view groups activity and audit reports.",
        ("microsoft.directory/groups/allProperties/allTasks",),
    ),
    BuiltInRole(
        "88d8e3e3-8f55-4a1e-953a-9b9898b8876b",
        "Directory Readers",
        False,
        "Can read basic directory information. Commonly used to grant directory read access "
        "to applications and guests.",
        ("microsoft.directory/users/standard/read",),
    ),
    BuiltInRole(
        "4a5d8f65-41da-4de4-8968-e035b65339cf",
        "Reports Reader",
        False,
        "Can read sign-in and audit reports.",
        ("microsoft.directory/auditLogs/allProperties/read",),
    ),
    BuiltInRole(
        "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
        "SharePoint Administrator",
        False,
        "Can manage all aspects of the SharePoint service.",
        ("microsoft.office365.sharePoint/allEntities/allTasks",),
    ),
    BuiltInRole(
        "69091246-20e8-4a56-aa4d-066075b2a7a8",
        "Teams Administrator",
        False,
        "Can manage the Microsoft Teams service.",
        ("microsoft.teams/allEntities/allProperties/allTasks",),
    ),
    BuiltInRole(
        "b0f54661-2d74-4c50-afa3-1ec803f12efe",
        "Billing Administrator",
        False,
        "Can perform common billing related tasks like updating payment information.",
        ("microsoft.commerce.billing/allEntities/allProperties/allTasks",),
    ),
    BuiltInRole(
        "4d6ac14f-3453-41d0-bef9-a3e0c569773a",
        "License Administrator",
        False,
        "Can manage product licenses on users and groups.",
        ("microsoft.directory/users/assignLicense",),
    ),
    BuiltInRole(
        "790c1fb9-7f7d-4f88-86a1-ef1f95c05c1b",
        "Message Center Reader",
        False,
        "Can read messages and updates for their organization in Office 365 Message Center only.",
        ("microsoft.office365.messageCenter/messages/read",),
    ),
)

# Custom roles are tenant-specific: their id differs from their templateId and they are never
# flagged privileged by Graph. Fixed ids keep generated tenants comparable across seeds.
CUSTOM_ROLES: tuple[tuple[str, str, str, str], ...] = (
    (
        "a4c1b9d2-0e3f-4a5b-8c6d-7e8f9a0b1c2d",
        "d1e2f3a4-b5c6-4d7e-8f9a-0b1c2d3e4f5a",
        "Contoso App Registration Reader",
        "Custom role: reads application registrations for the CMDB export.",
    ),
    (
        "b5d2cae3-1f40-4b6c-9d7e-8f90ab1c2d3e",
        "e2f3a4b5-c6d7-4e8f-9a0b-1c2d3e4f5a6b",
        "Contoso Device Tagger",
        "Custom role: updates extension attributes on devices.",
    ),
)
