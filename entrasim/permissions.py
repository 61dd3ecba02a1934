"""The application permissions (app roles) of the APIs spreview monitors, with their real ids.

A grant's `appRoleId` only means something through the resource principal's `appRoles`, and
security people recognise a permission by its value (`RoleManagement.ReadWrite.Directory`), so the
simulator serves Microsoft's own ids and values: a client tested here works unchanged against a
real tenant. Display names are Graph's; descriptions are shortened.
"""

from __future__ import annotations

from typing import Any, NamedTuple

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
SHAREPOINT_APP_ID = "00000003-0000-0ff1-ce00-000000000000"
MONITORED_RESOURCE_APP_IDS = (GRAPH_APP_ID, EXCHANGE_APP_ID, SHAREPOINT_APP_ID)
# The appRoleId of a "default access" assignment: access to the app, no permission.
DEFAULT_ACCESS_ROLE_ID = "00000000-0000-0000-0000-000000000000"


class Permission(NamedTuple):
    id: str
    value: str
    display_name: str
    description: str


class Resource(NamedTuple):
    app_id: str
    display_name: str
    service_principal_names: tuple[str, ...]
    permissions: tuple[Permission, ...]


def _p(role_id: str, value: str, display_name: str, description: str) -> Permission:
    return Permission(role_id, value, display_name, description)


GRAPH_PERMISSIONS: tuple[Permission, ...] = (
    # Paths to Global Administrator.
    _p(
        "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8",
        "RoleManagement.ReadWrite.Directory",
        "Read and write all directory RBAC settings",
        "Assign any directory role, including Global Administrator, without a signed-in user.",
    ),
    _p(
        "06b708a9-e830-4db3-a914-8e69da51d44f",
        "AppRoleAssignment.ReadWrite.All",
        "Manage app permission grants and app role assignments",
        "Grant any application permission of any API to any app, without a signed-in user.",
    ),
    _p(
        "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
        "Application.ReadWrite.All",
        "Read and write all applications",
        "Create and manage applications and service principals, including their credentials.",
    ),
    _p(
        "18a4783c-866b-4cc7-a460-3d5e5662c884",
        "Application.ReadWrite.OwnedBy",
        "Manage apps that this app creates or owns",
        "Manage the applications this app owns, including their credentials.",
    ),
    _p(
        "19dbc75e-c2e2-444c-a770-ec69d8559fc7",
        "Directory.ReadWrite.All",
        "Read and write directory data",
        "Read and write users, groups and other directory data without a signed-in user.",
    ),
    _p(
        "dd199f4a-f148-40a4-a2ec-f0069cc799ec",
        "RoleAssignmentSchedule.ReadWrite.Directory",
        "Read, update, and delete all policies for privileged role assignments of your "
        "company's directory",
        "Manage active role assignments through Privileged Identity Management.",
    ),
    _p(
        "fee28b28-e1f3-4841-818e-2704dc62245f",
        "RoleEligibilitySchedule.ReadWrite.Directory",
        "Read, update, and delete all eligible role assignments and schedules for your "
        "company's directory",
        "Manage eligible role assignments through Privileged Identity Management.",
    ),
    _p(
        "2f6817f8-7b12-4f0f-bc18-eeaf60705a9e",
        "PrivilegedAccess.ReadWrite.AzureADGroup",
        "Read and write privileged access to Azure AD groups",
        "Manage just-in-time membership of groups, including role-assignable groups.",
    ),
    _p(
        "50483e42-d915-4231-9639-7fdb7fd190e5",
        "UserAuthenticationMethod.ReadWrite.All",
        "Read and write all users' authentication methods",
        "Add or change any user's sign-in methods, administrators' included.",
    ),
    _p(
        "01c0a623-fc9b-48e9-b794-0756f8e8f067",
        "Policy.ReadWrite.ConditionalAccess",
        "Read and write your organization's conditional access policies",
        "Change the Conditional Access policies that protect every sign-in.",
    ),
    _p(
        "29c18626-4985-4dcd-85c0-193eef327366",
        "Policy.ReadWrite.AuthenticationMethod",
        "Read and write all authentication method policies",
        "Change which authentication methods the tenant accepts.",
    ),
    _p(
        "a402ca1c-2696-4531-972d-6e5ee4aa11ea",
        "Policy.ReadWrite.PermissionGrant",
        "Manage consent and permission grant policies",
        "Change who may consent to which permissions.",
    ),
    _p(
        "8e8e4742-1d95-4f68-9d56-6ee75648c72a",
        "DelegatedPermissionGrant.ReadWrite.All",
        "Manage all delegated permission grants",
        "Grant delegated permissions of any API, without a signed-in user.",
    ),
    _p(
        "7e05723c-0bb0-42da-be95-ae9f08a6e53c",
        "Domain.ReadWrite.All",
        "Read and write domains",
        "Add, verify and remove domains, including federated ones.",
    ),
    # Broad control of identities or data.
    _p(
        "741f803b-c850-494e-b5df-cde7c675a1ca",
        "User.ReadWrite.All",
        "Read and write all users' full profiles",
        "Read and update every user's profile without a signed-in user.",
    ),
    _p(
        "62a82d76-70ea-41e2-9197-370581804d09",
        "Group.ReadWrite.All",
        "Read and write all groups",
        "Create, change and delete groups and their memberships.",
    ),
    _p(
        "dbaae8cf-10b5-4b86-a4a1-f871c94c6695",
        "GroupMember.ReadWrite.All",
        "Read and write all group memberships",
        "Add and remove members of groups.",
    ),
    _p(
        "292d869f-3427-49a8-9dab-8c70152b74e9",
        "Organization.ReadWrite.All",
        "Read and write organization information",
        "Change the organization's settings and related resources.",
    ),
    _p(
        "e330c4f0-4170-414e-a55a-2f022ec2b57b",
        "DeviceManagementRBAC.ReadWrite.All",
        "Read and write Microsoft Intune RBAC settings",
        "Change Intune role-based access control.",
    ),
    _p(
        "e2a3a72e-5f79-4c64-b1b1-878b674786c9",
        "Mail.ReadWrite",
        "Read and write mail in all mailboxes",
        "Read, change and delete mail in every mailbox.",
    ),
    _p(
        "b633e1c5-b582-4048-a93e-9f11b44c7e96",
        "Mail.Send",
        "Send mail as any user",
        "Send mail as any user without a signed-in user.",
    ),
    _p(
        "ef54d2bf-783f-4e0f-bca1-3210c0444d99",
        "Calendars.ReadWrite",
        "Read and write calendars in all mailboxes",
        "Read and change every calendar.",
    ),
    _p(
        "75359482-378d-4052-8f01-80520e7db3cd",
        "Files.ReadWrite.All",
        "Read and write files in all site collections",
        "Read, change and delete every file in every site collection.",
    ),
    _p(
        "a82116e5-55eb-4c41-a434-62fe8a61c773",
        "Sites.FullControl.All",
        "Have full control of all site collections",
        "Full control of every SharePoint site collection.",
    ),
    _p(
        "9492366f-7969-46a4-8d15-ed1a20078fff",
        "Sites.ReadWrite.All",
        "Read and write items in all site collections",
        "Read and change documents and list items in every site collection.",
    ),
    # Reading.
    _p(
        "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
        "Directory.Read.All",
        "Read directory data",
        "Read users, groups, apps and other directory data.",
    ),
    _p(
        "df021288-bdef-4463-88db-98f22de89214",
        "User.Read.All",
        "Read all users' full profiles",
        "Read every user's profile.",
    ),
    _p(
        "5b567255-7703-4780-807c-7be8301ae99b",
        "Group.Read.All",
        "Read all groups",
        "Read groups, their memberships and conversations.",
    ),
    _p(
        "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
        "Application.Read.All",
        "Read all applications",
        "Read applications and service principals.",
    ),
    _p(
        "483bed4a-2ad3-4361-a73b-c83ccdbdc53c",
        "RoleManagement.Read.Directory",
        "Read all directory RBAC settings",
        "Read role definitions and role assignments.",
    ),
    _p(
        "b0afded3-3588-46d8-8b3d-9842eff778da",
        "AuditLog.Read.All",
        "Read all audit log data",
        "Read the audit and sign-in logs.",
    ),
    _p(
        "810c84a8-4a9e-49e6-bf7d-12d183f40d01",
        "Mail.Read",
        "Read mail in all mailboxes",
        "Read mail in every mailbox.",
    ),
    _p(
        "01d4889c-1287-42c6-ac1f-5d1e02578ef6",
        "Files.Read.All",
        "Read files in all site collections",
        "Read every file in every site collection.",
    ),
    _p(
        "332a536c-c7ef-4017-ab91-336970924f0d",
        "Sites.Read.All",
        "Read items in all site collections",
        "Read documents and list items in every site collection.",
    ),
    _p(
        "230c1aed-a721-4c5d-9cb4-a90514e508ef",
        "Reports.Read.All",
        "Read all usage reports",
        "Read usage reports of Microsoft 365 services.",
    ),
    _p(
        "7438b122-aefc-4978-80ed-43db9fcc7715",
        "Device.Read.All",
        "Read all devices",
        "Read the configuration of every device.",
    ),
    _p(
        "498476ce-e0fe-48b0-b801-37ba7e2685c6",
        "Organization.Read.All",
        "Read organization information",
        "Read the organization and its subscriptions.",
    ),
)

EXCHANGE_PERMISSIONS: tuple[Permission, ...] = (
    _p(
        "dc890d15-9560-4a4c-9b7f-a736ec74ec40",
        "full_access_as_app",
        "Use Exchange Web Services with full access to all mailboxes",
        "Full access to every mailbox through Exchange Web Services.",
    ),
    _p(
        "dc50a0fb-09a3-484d-be87-e023b12c6440",
        "Exchange.ManageAsApp",
        "Manage Exchange As Application",
        "Run Exchange Online PowerShell as the app, with the Exchange roles it holds.",
    ),
)

SHAREPOINT_PERMISSIONS: tuple[Permission, ...] = (
    _p(
        "678536fe-1083-478a-9c59-b99265e6b0d3",
        "Sites.FullControl.All",
        "Have full control of all site collections",
        "Full control of every site collection through the SharePoint API.",
    ),
)

GRAPH = Resource(
    GRAPH_APP_ID,
    "Microsoft Graph",
    (GRAPH_APP_ID, "https://graph.microsoft.com", "https://graph.microsoft.com/"),
    GRAPH_PERMISSIONS,
)
EXCHANGE = Resource(
    EXCHANGE_APP_ID,
    "Office 365 Exchange Online",
    (EXCHANGE_APP_ID, "https://outlook.office365.com/", "https://outlook.office.com/"),
    EXCHANGE_PERMISSIONS,
)
SHAREPOINT = Resource(
    SHAREPOINT_APP_ID,
    "Office 365 SharePoint Online",
    (SHAREPOINT_APP_ID, "Microsoft.SharePoint"),
    SHAREPOINT_PERMISSIONS,
)
RESOURCES: tuple[Resource, ...] = (GRAPH, EXCHANGE, SHAREPOINT)

# Used by the generator to draw realistic mixes (the product's own tiers live in identities.tiers).
TIER0_VALUES = frozenset(
    {
        "RoleManagement.ReadWrite.Directory",
        "AppRoleAssignment.ReadWrite.All",
        "Application.ReadWrite.All",
        "Application.ReadWrite.OwnedBy",
        "Directory.ReadWrite.All",
        "RoleAssignmentSchedule.ReadWrite.Directory",
        "RoleEligibilitySchedule.ReadWrite.Directory",
        "PrivilegedAccess.ReadWrite.AzureADGroup",
        "UserAuthenticationMethod.ReadWrite.All",
        "Policy.ReadWrite.ConditionalAccess",
        "Policy.ReadWrite.AuthenticationMethod",
        "Policy.ReadWrite.PermissionGrant",
        "DelegatedPermissionGrant.ReadWrite.All",
        "Domain.ReadWrite.All",
    }
)
READ_VALUES = frozenset(p.value for p in GRAPH_PERMISSIONS if ".Read." in p.value)


def app_role(permission: Permission, member_types: tuple[str, ...] = ("Application",)) -> dict:
    """One entry of a resource principal's `appRoles`, as Graph renders it."""
    return {
        "allowedMemberTypes": list(member_types),
        "description": permission.description,
        "displayName": permission.display_name,
        "id": permission.id,
        "isEnabled": True,
        "origin": "Application",
        "value": permission.value,
    }


def app_roles(resource: Resource) -> list[dict[str, Any]]:
    return [app_role(p) for p in resource.permissions]


def by_value(resource: Resource, value: str) -> Permission:
    for permission in resource.permissions:
        if permission.value == value:
            return permission
    raise KeyError(f"{resource.display_name} has no application permission {value!r}")
