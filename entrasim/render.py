"""Tenant records -> the JSON objects Graph returns, with Graph's property names and defaults.

Shapes follow Microsoft Graph's documented examples; properties the simulator has no data for are
present with null or empty values, as Graph sends them, so clients meet the real shape.
"""

from __future__ import annotations

import base64
from typing import Any

from .tenant import (
    Application,
    AppRoleAssignment,
    Group,
    RoleAssignment,
    RoleDefinition,
    RoleInstance,
    RoleSchedule,
    ServicePrincipal,
    User,
)

SP_TYPE = "#microsoft.graph.servicePrincipal"
USER_TYPE = "#microsoft.graph.user"
GROUP_TYPE = "#microsoft.graph.group"
APPLICATION_TYPE = "#microsoft.graph.application"


def role_definition(role: RoleDefinition, beta: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": role.id,
        "description": role.description,
        "displayName": role.display_name,
        "isBuiltIn": role.is_built_in,
        "isEnabled": role.is_enabled,
        "resourceScopes": ["/"],
        "templateId": role.template_id,
        "version": "1" if role.is_built_in else None,
        "rolePermissions": [
            {
                "allowedResourceActions": list(role.allowed_actions),
                "condition": None,
            }
        ],
    }
    if beta:
        out["isPrivileged"] = role.is_privileged
        out["allowedPrincipalTypes"] = "user,servicePrincipal,group"
    return out


def service_principal(sp: ServicePrincipal) -> dict[str, Any]:
    return {
        "id": sp.id,
        "deletedDateTime": None,
        "accountEnabled": sp.account_enabled,
        "alternativeNames": list(sp.alternative_names),
        "appDisplayName": sp.app_display_name,
        "appDescription": None,
        "appId": sp.app_id,
        "applicationTemplateId": None,
        "appOwnerOrganizationId": sp.app_owner_organization_id,
        "appRoleAssignmentRequired": False,
        "createdDateTime": sp.created_date_time,
        "description": sp.description,
        "disabledByMicrosoftStatus": None,
        "displayName": sp.display_name,
        "homepage": None,
        "loginUrl": None,
        "logoutUrl": None,
        "notes": sp.notes,
        "notificationEmailAddresses": [],
        "preferredSingleSignOnMode": None,
        "preferredTokenSigningKeyThumbprint": None,
        "replyUrls": [],
        "servicePrincipalNames": list(sp.service_principal_names),
        "servicePrincipalType": sp.sp_type,
        "signInAudience": sp.sign_in_audience,
        "tags": list(sp.tags),
        "tokenEncryptionKeyId": None,
        "samlSingleSignOnSettings": None,
        "addIns": [],
        "appRoles": [dict(r) for r in sp.app_roles],
        "info": {
            "logoUrl": None,
            "marketingUrl": None,
            "privacyStatementUrl": None,
            "supportUrl": None,
            "termsOfServiceUrl": None,
        },
        "keyCredentials": [{**k, "key": None} for k in sp.key_credentials],
        "oauth2PermissionScopes": [],
        "passwordCredentials": [{**p, "secretText": None} for p in sp.password_credentials],
        "resourceSpecificApplicationPermissions": [],
        "verifiedPublisher": {
            "displayName": None,
            "verifiedPublisherId": None,
            "addedDateTime": None,
        },
    }


def user(u: User) -> dict[str, Any]:
    return {
        "id": u.id,
        "businessPhones": [],
        "displayName": u.display_name,
        "givenName": u.given_name,
        "jobTitle": u.job_title,
        "mail": u.mail,
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": None,
        "surname": u.surname,
        "userPrincipalName": u.user_principal_name,
    }


def group(g: Group) -> dict[str, Any]:
    return {
        "id": g.id,
        "deletedDateTime": None,
        "classification": None,
        "createdDateTime": g.created_date_time,
        "creationOptions": [],
        "description": g.description,
        "displayName": g.display_name,
        "expirationDateTime": None,
        "groupTypes": [],
        "isAssignableToRole": g.is_assignable_to_role,
        "mail": None,
        "mailEnabled": False,
        "mailNickname": g.mail_nickname,
        "membershipRule": None,
        "membershipRuleProcessingState": None,
        "onPremisesSyncEnabled": None,
        "preferredDataLocation": None,
        "preferredLanguage": None,
        "proxyAddresses": [],
        "renewedDateTime": g.created_date_time,
        "resourceBehaviorOptions": [],
        "resourceProvisioningOptions": [],
        "securityEnabled": True,
        "theme": None,
        "visibility": "Private",
    }


def application(app: Application) -> dict[str, Any]:
    return {
        "id": app.id,
        "deletedDateTime": None,
        "appId": app.app_id,
        "applicationTemplateId": None,
        "createdDateTime": app.created_date_time,
        "description": None,
        "disabledByMicrosoftStatus": None,
        "displayName": app.display_name,
        "groupMembershipClaims": None,
        "identifierUris": [],
        "isDeviceOnlyAuthSupported": None,
        "isFallbackPublicClient": None,
        "notes": None,
        "publisherDomain": app.publisher_domain,
        "serviceManagementReference": None,
        "signInAudience": app.sign_in_audience,
        "tags": [],
        "tokenEncryptionKeyId": None,
        "addIns": [],
        "api": {
            "acceptMappedClaims": None,
            "knownClientApplications": [],
            "requestedAccessTokenVersion": None,
            "oauth2PermissionScopes": [],
            "preAuthorizedApplications": [],
        },
        "appRoles": [],
        "info": {
            "logoUrl": None,
            "marketingUrl": None,
            "privacyStatementUrl": None,
            "supportUrl": None,
            "termsOfServiceUrl": None,
        },
        "keyCredentials": [{**k, "key": None} for k in app.key_credentials],
        "optionalClaims": None,
        "parentalControlSettings": {"countriesBlockedForMinors": [], "legalAgeGroupRule": "Allow"},
        "passwordCredentials": [{**p, "secretText": None} for p in app.password_credentials],
        "publicClient": {"redirectUris": []},
        "requiredResourceAccess": [],
        "verifiedPublisher": {
            "displayName": None,
            "verifiedPublisherId": None,
            "addedDateTime": None,
        },
        "web": {
            "homePageUrl": None,
            "logoutUrl": None,
            "redirectUris": [],
            "implicitGrantSettings": {
                "enableAccessTokenIssuance": False,
                "enableIdTokenIssuance": False,
            },
        },
        "spa": {"redirectUris": []},
    }


def federated_credential(credential: dict[str, Any], beta: bool) -> dict[str, Any]:
    """v1.0 has no claimsMatchingExpression: a flexible credential shows there with a null
    subject only, which is why a client must read it from beta to see the pattern."""
    out: dict[str, Any] = {
        "id": credential["id"],
        "name": credential["name"],
        "issuer": credential["issuer"],
        "subject": credential.get("subject"),
        "description": credential.get("description"),
        "audiences": list(credential.get("audiences") or ()),
    }
    if beta:
        expression = credential.get("claimsMatchingExpression")
        out["claimsMatchingExpression"] = dict(expression) if expression else None
    return out


def app_role_assignment(
    grant: AppRoleAssignment,
    principal: ServicePrincipal | User | Group | None,
    resource: ServicePrincipal | None,
) -> dict[str, Any]:
    return {
        "id": grant.id,
        "deletedDateTime": None,
        "appRoleId": grant.app_role_id,
        "createdDateTime": grant.created_date_time,
        "principalDisplayName": principal.display_name
        if principal is not None
        else grant.principal_display_name,
        "principalId": grant.principal_id,
        "principalType": grant.principal_type,
        "resourceDisplayName": resource.display_name
        if resource is not None
        else grant.resource_display_name,
        "resourceId": grant.resource_id,
    }


SP_PROPERTIES = frozenset(service_principal(ServicePrincipal("", "", "")).keys())
USER_PROPERTIES = frozenset(user(User("", "", "")).keys())
GROUP_PROPERTIES = frozenset(group(Group("", "")).keys())
APPLICATION_PROPERTIES = frozenset(application(Application("", "", "")).keys())
DIRECTORY_OBJECT_PROPERTIES = (
    SP_PROPERTIES | USER_PROPERTIES | GROUP_PROPERTIES | APPLICATION_PROPERTIES
)
FEDERATED_CREDENTIAL_PROPERTIES = frozenset(
    federated_credential({"id": "", "name": "", "issuer": ""}, beta=True).keys()
)
APP_ROLE_ASSIGNMENT_PROPERTIES = frozenset(
    app_role_assignment(AppRoleAssignment("", "", "", "", ""), None, None).keys()
)


def directory_object(
    obj: ServicePrincipal | User | Group | Application | None,
) -> dict[str, Any] | None:
    """A directory object as polymorphic lists and `$expand` carry it: with `@odata.type`."""
    if obj is None:
        return None
    if isinstance(obj, ServicePrincipal):
        return {"@odata.type": SP_TYPE, **service_principal(obj)}
    if isinstance(obj, Application):
        return {"@odata.type": APPLICATION_TYPE, **application(obj)}
    if isinstance(obj, User):
        return {"@odata.type": USER_TYPE, **user(obj)}
    return {"@odata.type": GROUP_TYPE, **group(obj)}


def role_assignment(ra: RoleAssignment, beta: bool, tenant_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": ra.id,
        "principalId": ra.principal_id,
        "roleDefinitionId": ra.role_definition_id,
        "directoryScopeId": ra.directory_scope_id,
        "appScopeId": ra.app_scope_id,
        "condition": None,
    }
    if beta:
        out["resourceScope"] = ra.directory_scope_id
        out["principalOrganizationId"] = tenant_id
    return out


def schedule(s: RoleSchedule) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": s.id,
        "principalId": s.principal_id,
        "roleDefinitionId": s.role_definition_id,
        "directoryScopeId": s.directory_scope_id,
        "appScopeId": s.app_scope_id,
        "createdUsing": s.created_using,
        "createdDateTime": s.created_date_time,
        "modifiedDateTime": s.modified_date_time,
        "status": s.status,
        "memberType": s.member_type,
    }
    if s.assignment_type is not None:
        out["assignmentType"] = s.assignment_type
    out["scheduleInfo"] = {
        "startDateTime": s.start_date_time,
        "recurrence": None,
        "expiration": {
            "type": "afterDateTime" if s.end_date_time else "noExpiration",
            "endDateTime": s.end_date_time,
            "duration": None,
        },
    }
    return out


def schedule_instance(i: RoleInstance) -> dict[str, Any]:
    return {
        "id": i.id,
        "principalId": i.principal_id,
        "roleDefinitionId": i.role_definition_id,
        "directoryScopeId": i.directory_scope_id,
        "appScopeId": i.app_scope_id,
        "startDateTime": i.start_date_time,
        "endDateTime": i.end_date_time,
        "assignmentType": i.assignment_type,
        "memberType": i.member_type,
        "roleAssignmentOriginId": i.role_assignment_origin_id,
        "roleAssignmentScheduleId": i.role_assignment_schedule_id,
    }


SIGN_IN_KINDS = (
    "delegatedClient",
    "delegatedResource",
    "applicationAuthenticationClient",
    "applicationAuthenticationResource",
)


def sign_in_activity(sp: ServicePrincipal) -> dict[str, Any]:
    activity = sp.sign_in or {}

    def entry(value: list[str] | None) -> dict[str, Any]:
        when, request_id = value if value else (None, None)
        return {"lastSignInDateTime": when, "lastSignInRequestId": request_id}

    out: dict[str, Any] = {
        "id": base64.b64encode(sp.app_id.encode()).decode(),
        "appId": sp.app_id,
    }
    for kind in SIGN_IN_KINDS:
        out[f"{kind}SignInActivity"] = entry(activity.get(kind))
    latest = max((v for v in activity.values() if v), default=None, key=lambda v: v[0])
    out["lastSignInActivity"] = entry(latest)
    return out
