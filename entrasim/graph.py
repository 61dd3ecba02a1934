"""Microsoft Graph routes of the simulator (GRAPH_CONTRACT.md): reads, paging, removals.

Each handler works on the live tenant under its lock and returns a JSON-ready body; the server
adds the envelope, headers and logging. Listings go through `_list`, which owns `$top`,
`$skiptoken` snapshots, `$count` and the mid-listing page faults.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, unquote_plus

from . import render
from .faults import Faults
from .odata import GraphError, apply_select, matches, parse_filter, parse_select
from .paging import PageCursors
from .tenant import (
    ActiveInstances,
    RoleAssignment,
    RoleDefinition,
    RoleInstance,
    RoleSchedule,
    SimTenant,
    Store,
    iso,
    utcnow,
)

MAX_TOP = 999
MAX_GET_BY_IDS = 1000

_READ_DIRECTORY = ("Directory.Read.All", "Directory.ReadWrite.All")
_ROLE_READ = (
    "RoleManagement.Read.Directory",
    "RoleManagement.Read.All",
    "RoleManagement.ReadWrite.Directory",
    *_READ_DIRECTORY,
)
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "roleDefinitions": _ROLE_READ,
    "roleAssignments": _ROLE_READ,
    "roleAssignments.delete": ("RoleManagement.ReadWrite.Directory",),
    "roleAssignmentSchedules": (
        "RoleAssignmentSchedule.Read.Directory",
        "RoleAssignmentSchedule.ReadWrite.Directory",
        *_ROLE_READ,
    ),
    "roleAssignmentScheduleInstances": (
        "RoleAssignmentSchedule.Read.Directory",
        "RoleAssignmentSchedule.ReadWrite.Directory",
        *_ROLE_READ,
    ),
    "roleEligibilitySchedules": (
        "RoleEligibilitySchedule.Read.Directory",
        "RoleEligibilitySchedule.ReadWrite.Directory",
        *_ROLE_READ,
    ),
    "roleAssignmentScheduleRequests": (
        "RoleAssignmentSchedule.ReadWrite.Directory",
        "RoleManagement.ReadWrite.Directory",
    ),
    "roleEligibilityScheduleRequests": (
        "RoleEligibilitySchedule.ReadWrite.Directory",
        "RoleManagement.ReadWrite.Directory",
    ),
    "servicePrincipals": ("Application.Read.All", "Application.ReadWrite.All", *_READ_DIRECTORY),
    "directoryObjects": ("Application.Read.All", "Application.ReadWrite.All", *_READ_DIRECTORY),
    "applications": ("Application.Read.All", "Application.ReadWrite.All", *_READ_DIRECTORY),
    "appRoleAssignments.delete": ("AppRoleAssignment.ReadWrite.All", "Application.ReadWrite.All"),
    "signInActivities": ("AuditLog.Read.All",),
}

_KNOWN_OPTIONS = {"$filter", "$select", "$expand", "$top", "$skiptoken", "$count"}
_UNSUPPORTED_OPTIONS = {"$orderby", "$search", "$skip", "$apply", "$format", "$levels"}

_ASSIGNMENT_FIELDS = {
    "id": "id",
    "principalId": "principal_id",
    "roleDefinitionId": "role_definition_id",
    "directoryScopeId": "directory_scope_id",
    "appScopeId": "app_scope_id",
}
_SCHEDULE_FIELDS = {
    **_ASSIGNMENT_FIELDS,
    "memberType": "member_type",
    "status": "status",
    "assignmentType": "assignment_type",
}
_ELIGIBILITY_FIELDS = {k: v for k, v in _SCHEDULE_FIELDS.items() if k != "assignmentType"}
_INSTANCE_FIELDS = {
    **{k: v for k, v in _SCHEDULE_FIELDS.items() if k != "status"},
    "roleAssignmentOriginId": "role_assignment_origin_id",
    "roleAssignmentScheduleId": "role_assignment_schedule_id",
}
_ROLE_FIELDS = {
    "id": "id",
    "templateId": "template_id",
    "displayName": "display_name",
    "isBuiltIn": "is_built_in",
    "isEnabled": "is_enabled",
}
_SP_FIELDS = {
    "id": "id",
    "appId": "app_id",
    "displayName": "display_name",
    "servicePrincipalType": "sp_type",
    "accountEnabled": "account_enabled",
    "appOwnerOrganizationId": "app_owner_organization_id",
}
_SIGN_IN_FIELDS = {"appId": "app_id"}
_APPLICATION_FIELDS = {"id": "id", "appId": "app_id", "displayName": "display_name"}
_GRANT_FIELDS = {
    "id": "id",
    "appRoleId": "app_role_id",
    "principalId": "principal_id",
    "principalType": "principal_type",
    "resourceId": "resource_id",
}
_FEDERATED_FIELDS = {"name": "name", "subject": "subject", "issuer": "issuer"}
# The two navigation properties that list one grant object from either side.
_GRANT_LISTS = ("appRoleAssignedTo", "appRoleAssignments")
_ALTERNATE_KEY = re.compile(r"^servicePrincipals\(appId='([^']*)'\)$", re.IGNORECASE)
_APPLICATION_KEY = re.compile(r"^applications\(appId='([^']*)'\)$", re.IGNORECASE)


@dataclass
class GraphRequest:
    method: str
    version: str  # "v1.0" | "beta"
    path: str  # decoded path, e.g. /v1.0/servicePrincipals
    raw_query: str
    query: dict[str, str]  # OData options by lower-case name
    headers: Mapping[str, str]
    body: bytes
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def segments(self) -> list[str]:
        return [unquote(s) for s in self.path.split("/")[2:] if s != ""]

    @property
    def beta(self) -> bool:
        return self.version == "beta"

    @property
    def target(self) -> str:
        """What fault rules match against: path plus decoded query."""
        return self.path + ("?" + unquote_plus(self.raw_query) if self.raw_query else "")


@dataclass
class GraphResponse:
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)


def parse_options(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """OData system query options, validated the way Graph does."""
    options: dict[str, str] = {}
    for key, value in pairs:
        name = key.strip().lower()
        if not name.startswith("$"):
            continue  # custom query options are ignored by Graph
        if name in _UNSUPPORTED_OPTIONS:
            raise GraphError(
                400, "Request_UnsupportedQuery", f"The query option '{key}' is not supported."
            )
        if name not in _KNOWN_OPTIONS:
            raise GraphError(400, "BadRequest", f"Query option '{key}' is not allowed.")
        if name in options:
            raise GraphError(
                400,
                "BadRequest",
                f"Query option '{key}' was specified more than once, but it must be specified "
                "at most once.",
            )
        options[name] = value
    return options


class GraphApi:
    """The Graph routes over one tenant."""

    def __init__(
        self,
        tenant: SimTenant,
        faults: Faults,
        cursors: PageCursors,
        graph_url: str,
        page_size: int,
        on_mutation: Callable[[], None],
    ) -> None:
        self.tenant = tenant
        self.faults = faults
        self.cursors = cursors
        self.graph_url = graph_url
        self.page_size = page_size
        self.on_mutation = on_mutation

    # ----- dispatch ----------------------------------------------------------------------------

    def handle(self, req: GraphRequest) -> GraphResponse:
        seg = req.segments
        method = req.method
        with self.tenant.lock:
            if seg[:2] == ["roleManagement", "directory"] and len(seg) >= 3:
                return self._role_management(req, seg[2:], method)
            if seg and seg[0] == "servicePrincipals":
                return self._service_principals(req, seg[1:], method)
            if seg and _ALTERNATE_KEY.match(seg[0]):
                app_id = _ALTERNATE_KEY.match(seg[0]).group(1)  # type: ignore[union-attr]
                sp = self.tenant.service_principal_by_app_id(app_id)
                return self._service_principals(req, [sp.id if sp else app_id, *seg[1:]], method)
            if seg and seg[0] == "applications":
                return self._applications(req, seg[1:], method)
            if seg and _APPLICATION_KEY.match(seg[0]):
                app_id = _APPLICATION_KEY.match(seg[0]).group(1)  # type: ignore[union-attr]
                app = self.tenant.application_by_app_id(app_id)
                return self._applications(req, [app.id if app else app_id, *seg[1:]], method)
            if seg == ["directoryObjects", "getByIds"]:
                self._allow(method, "POST")
                self._permit(req, "directoryObjects")
                return self._get_by_ids(req)
            if seg[:2] == ["reports", "servicePrincipalSignInActivities"] and req.beta:
                self._allow(method, "GET")
                self._permit(req, "signInActivities")
                return self._sign_in_activities(req, seg[2:])
        raise self._no_segment(seg)

    @staticmethod
    def _no_segment(seg: list[str]) -> GraphError:
        name = seg[-1] if seg else ""
        return GraphError(400, "BadRequest", f"Resource not found for the segment '{name}'.")

    @staticmethod
    def _allow(method: str, *allowed: str) -> None:
        if method not in allowed:
            raise GraphError(
                405,
                "Request_BadRequest",
                f"The HTTP method '{method}' is not allowed for this resource.",
            )

    @staticmethod
    def _permit(req: GraphRequest, permission: str) -> None:
        if not req.roles.intersection(PERMISSIONS[permission]):
            raise GraphError(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )

    def _context(self, req: GraphRequest, fragment: str) -> str:
        return f"{self.graph_url}/{req.version}/$metadata#{fragment}"

    # ----- role management -------------------------------------------------------------------

    def _role_management(self, req: GraphRequest, seg: list[str], method: str) -> GraphResponse:
        name, rest = seg[0], seg[1:]
        if name == "roleDefinitions" and len(rest) <= 1:
            self._allow(method, "GET")
            self._permit(req, "roleDefinitions")
            return self._role_definitions(req, rest)
        if name == "roleAssignments" and len(rest) <= 1:
            if rest and method == "DELETE":
                self._permit(req, "roleAssignments.delete")
                return self._delete_role_assignment(rest[0])
            self._allow(method, "GET")
            self._permit(req, "roleAssignments")
            return self._assignments(
                req,
                rest,
                "roleAssignments",
                self.tenant.role_assignments,
                _ASSIGNMENT_FIELDS,
                lambda ra: render.role_assignment(ra, req.beta, self.tenant.tenant_id),
            )
        if name in ("roleAssignmentSchedules", "roleEligibilitySchedules") and len(rest) <= 1:
            self._allow(method, "GET")
            self._permit(req, name)
            eligible = name == "roleEligibilitySchedules"
            store = (
                self.tenant.eligibility_schedules if eligible else self.tenant.assignment_schedules
            )
            fields = _ELIGIBILITY_FIELDS if eligible else _SCHEDULE_FIELDS
            return self._assignments(req, rest, name, store, fields, render.schedule)
        if name == "roleAssignmentScheduleInstances" and len(rest) <= 1:
            self._allow(method, "GET")
            self._permit(req, name)
            instances = ActiveInstances(self.tenant)
            return self._assignments(
                req, rest, name, instances, _INSTANCE_FIELDS, render.schedule_instance
            )
        if (
            name in ("roleAssignmentScheduleRequests", "roleEligibilityScheduleRequests")
            and not rest
        ):
            self._allow(method, "POST")
            self._permit(req, name)
            return self._schedule_request(req, name)
        raise self._no_segment(seg)

    def _role_definitions(self, req: GraphRequest, rest: list[str]) -> GraphResponse:
        fields = dict(_ROLE_FIELDS)
        if req.beta:
            fields["isPrivileged"] = "is_privileged"
        props = frozenset(render.role_definition(_any_role(), req.beta).keys())
        selected = parse_select(req.query.get("$select"), props, "unifiedRoleDefinition")
        if "$expand" in req.query:
            raise GraphError(400, "Request_UnsupportedQuery", "$expand is not supported here.")
        if rest:
            role = self.tenant.role_definitions.get(rest[0])
            if role is None:
                raise _not_found(rest[0])
            body = apply_select(render.role_definition(role, req.beta), selected)
            return GraphResponse(
                200,
                {
                    "@odata.context": self._context(
                        req, "roleManagement/directory/roleDefinitions/$entity"
                    ),
                    **body,
                },
            )
        clauses = self._filter(req, fields, "unifiedRoleDefinition")

        def compute() -> list[Any]:
            return [
                r
                for r in self.tenant.role_definitions.values()
                if not clauses or matches(r, clauses, fields)
            ]

        return self._list(
            req,
            "roleManagement/directory/roleDefinitions",
            compute,
            lambda r: apply_select(render.role_definition(r, req.beta), selected),
        )

    def _assignments(
        self,
        req: GraphRequest,
        rest: list[str],
        name: str,
        store: Store[Any] | ActiveInstances,
        fields: dict[str, str],
        renderer: Callable[[Any], dict[str, Any]],
    ) -> GraphResponse:
        """roleAssignments and both schedule listings: same filters, same `$expand`."""
        expand = self._expand(req.query.get("$expand"))
        sample = renderer(_any_record(name))
        selected = parse_select(req.query.get("$select"), frozenset(sample), name[:-1])

        def full(record: Any) -> dict[str, Any]:
            body = apply_select(renderer(record), selected)
            if "principal" in expand:
                body["principal"] = render.directory_object(
                    self.tenant.directory_object(record.principal_id)
                )
            if "roleDefinition" in expand:
                role = self.tenant.role_definitions.get(record.role_definition_id)
                body["roleDefinition"] = render.role_definition(role, req.beta) if role else None
            return body

        fragment = f"roleManagement/directory/{name}"
        if expand:
            fragment += "(" + ",".join(f"{e}()" for e in sorted(expand)) + ")"
        if rest:
            record = store.get(rest[0])
            if record is None:
                raise _not_found(rest[0])
            return GraphResponse(
                200, {"@odata.context": self._context(req, fragment + "/$entity"), **full(record)}
            )
        clauses = self._filter(req, {k: k for k in fields}, name[:-1])

        def compute() -> list[Any]:
            by_field = {c.field: c.values for c in clauses}
            if "principalId" in by_field:
                candidates = [r for v in by_field["principalId"] for r in store.by_principal(v)]
            elif "roleDefinitionId" in by_field:
                candidates = [r for v in by_field["roleDefinitionId"] for r in store.by_role(v)]
            elif "id" in by_field:
                candidates = [r for v in by_field["id"] if (r := store.get(v)) is not None]
            else:
                candidates = store.all()
            if not clauses:
                return candidates
            return [r for r in candidates if matches(r, clauses, fields)]

        return self._list(req, fragment, compute, full)

    @staticmethod
    def _expand(text: str | None) -> set[str]:
        if not text:
            return set()
        out = set()
        for part in re.split(r",(?![^(]*\))", text):
            name = part.split("(", 1)[0].strip()  # nested options are not honoured, as in Graph
            if name.lower() == "principal":
                out.add("principal")
            elif name.lower() == "roledefinition":
                out.add("roleDefinition")
            elif name.lower() in ("directoryscope", "appscope"):
                raise GraphError(
                    400, "Request_UnsupportedQuery", f"Expanding '{name}' is not supported."
                )
            else:
                raise GraphError(
                    400, "BadRequest", f"Could not find a property named '{name}' to expand."
                )
        return out

    def _delete_role_assignment(self, assignment_id: str) -> GraphResponse:
        if not self.tenant.delete_role_assignment(assignment_id):
            raise _not_found(assignment_id)
        self.on_mutation()
        return GraphResponse(204, None)

    def _schedule_request(self, req: GraphRequest, name: str) -> GraphResponse:
        body = _json_object(req.body)
        action = str(body.get("action", ""))
        if action.lower() != "adminremove":
            raise GraphError(
                400,
                "BadRequest",
                f"The action '{action}' is not supported by the simulator (only adminRemove).",
            )
        missing = [k for k in ("principalId", "roleDefinitionId") if not body.get(k)]
        if not body.get("directoryScopeId") and not body.get("appScopeId"):
            missing.append("directoryScopeId")
        if missing:
            raise GraphError(
                400, "BadRequest", f"The request is missing required properties: {missing}."
            )
        eligible = name == "roleEligibilityScheduleRequests"
        store = self.tenant.eligibility_schedules if eligible else self.tenant.assignment_schedules
        principal_id = str(body["principalId"])
        role_id = str(body["roleDefinitionId"])
        scope = str(body.get("directoryScopeId") or "/")
        targets: list[RoleSchedule] = [
            s
            for s in store.by_principal(principal_id)
            if s.member_type == "Direct"
            and s.role_definition_id == role_id
            and s.directory_scope_id == scope
        ]
        if not targets:
            raise GraphError(
                400, "RoleAssignmentDoesNotExist", "The Role assignment does not exist."
            )
        if not body.get("isValidationOnly"):
            self.tenant.remove_schedules(store, principal_id, role_id, scope)
            self.on_mutation()
        now = iso(utcnow())
        result: dict[str, Any] = {
            "@odata.context": self._context(req, f"roleManagement/directory/{name}/$entity"),
            "id": str(uuid.uuid4()),
            "status": "Revoked",
            "createdDateTime": now,
            "completedDateTime": now,
            "approvalId": None,
            "customData": None,
            "action": "adminRemove",
            "principalId": principal_id,
            "roleDefinitionId": role_id,
            "directoryScopeId": scope,
            "appScopeId": body.get("appScopeId"),
            "isValidationOnly": bool(body.get("isValidationOnly", False)),
            "targetScheduleId": targets[0].id,
            "justification": body.get("justification"),
            "createdBy": {
                "application": {
                    "id": self.tenant.app.client_id,
                    "displayName": self.tenant.app.display_name,
                },
                "device": None,
                "user": None,
            },
            "scheduleInfo": {
                "startDateTime": now,
                "recurrence": None,
                "expiration": {"type": "noExpiration", "endDateTime": None, "duration": None},
            },
            "ticketInfo": {"ticketNumber": None, "ticketSystem": None},
        }
        return GraphResponse(201, result)

    # ----- service principals ------------------------------------------------------------------

    def _service_principals(self, req: GraphRequest, rest: list[str], method: str) -> GraphResponse:
        if len(rest) == 3 and rest[1] in _GRANT_LISTS and method == "DELETE":
            self._permit(req, "appRoleAssignments.delete")
            return self._delete_app_role_assignment(rest[0], rest[1], rest[2])
        self._allow(method, "GET")
        self._permit(req, "servicePrincipals")
        if len(rest) > 3 or (len(rest) == 3 and rest[1] not in _GRANT_LISTS):
            raise self._no_segment(rest)
        if len(rest) == 2 and rest[1] not in ("owners", *_GRANT_LISTS):
            raise self._no_segment(rest)
        if "$expand" in req.query:
            raise GraphError(400, "Request_UnsupportedQuery", "$expand is not supported here.")
        if len(rest) >= 2 and rest[1] in _GRANT_LISTS:
            return self._app_role_assignments(req, rest[0], rest[1], rest[2:])
        if len(rest) == 2:
            sp = self.tenant.service_principals.get(rest[0])
            if sp is None:
                raise _not_found(rest[0])
            return self._owners(req, sp.owner_ids)
        selected = parse_select(req.query.get("$select"), render.SP_PROPERTIES, "servicePrincipal")
        if rest:
            sp = self.tenant.service_principals.get(rest[0])
            if sp is None:
                raise _not_found(rest[0])
            return GraphResponse(
                200,
                {
                    "@odata.context": self._context(req, "servicePrincipals/$entity"),
                    **apply_select(render.service_principal(sp), selected),
                },
            )
        clauses = self._filter(req, {k: k for k in _SP_FIELDS}, "servicePrincipal")

        def compute() -> list[Any]:
            by_field = {c.field: c.values for c in clauses}
            sps = self.tenant.service_principals
            if "id" in by_field:
                candidates = [sps[v] for v in by_field["id"] if v in sps]
            elif "appId" in by_field:
                found = (self.tenant.service_principal_by_app_id(v) for v in by_field["appId"])
                candidates = [sp for sp in found if sp is not None]
            else:
                candidates = list(sps.values())
            return [sp for sp in candidates if matches(sp, clauses, _SP_FIELDS)]

        fragment = "servicePrincipals" + (f"({','.join(selected)})" if selected else "")
        return self._list(
            req,
            fragment,
            compute,
            lambda sp: apply_select(render.service_principal(sp), selected),
        )

    def _app_role_assignments(
        self, req: GraphRequest, sp_id: str, side: str, rest: list[str]
    ) -> GraphResponse:
        """appRoleAssignedTo (holders of the principal's permissions: users, groups and
        service principals alike) or appRoleAssignments (what the principal holds)."""
        if sp_id not in self.tenant.service_principals:
            raise _not_found(sp_id)
        store = self.tenant.app_role_assignments
        on_resource = side == "appRoleAssignedTo"
        selected = parse_select(
            req.query.get("$select"), render.APP_ROLE_ASSIGNMENT_PROPERTIES, "appRoleAssignment"
        )
        fragment = f"servicePrincipals('{sp_id}')/{side}"

        def full(grant: Any) -> dict[str, Any]:
            return apply_select(
                render.app_role_assignment(
                    grant,
                    self.tenant.directory_object(grant.principal_id),
                    self.tenant.service_principals.get(grant.resource_id),
                ),
                selected,
            )

        if rest:
            grant = store.get(rest[0])
            if grant is None or (grant.resource_id if on_resource else grant.principal_id) != sp_id:
                raise _not_found(rest[0])
            return GraphResponse(
                200, {"@odata.context": self._context(req, fragment + "/$entity"), **full(grant)}
            )
        clauses = self._filter(req, {k: k for k in _GRANT_FIELDS}, "appRoleAssignment")

        def compute() -> list[Any]:
            grants = store.by_role(sp_id) if on_resource else store.by_principal(sp_id)
            return [g for g in grants if not clauses or matches(g, clauses, _GRANT_FIELDS)]

        return self._list(req, fragment, compute, full)

    def _delete_app_role_assignment(self, sp_id: str, side: str, grant_id: str) -> GraphResponse:
        """One grant, reachable from the resource (appRoleAssignedTo) or the holder
        (appRoleAssignments); a grant that is not on that side is not found there."""
        grant = self.tenant.app_role_assignments.get(grant_id)
        owner = None
        if grant is not None:
            owner = grant.resource_id if side == "appRoleAssignedTo" else grant.principal_id
        if sp_id not in self.tenant.service_principals:
            raise _not_found(sp_id)
        if grant is None or owner != sp_id:
            raise _not_found(grant_id)
        self.tenant.remove_app_role_assignment(grant_id)
        self.on_mutation()
        return GraphResponse(204, None)

    # ----- applications (app registrations) ---------------------------------------------------

    def _applications(self, req: GraphRequest, rest: list[str], method: str) -> GraphResponse:
        self._allow(method, "GET")
        self._permit(req, "applications")
        if "$expand" in req.query:
            raise GraphError(400, "Request_UnsupportedQuery", "$expand is not supported here.")
        if len(rest) > 3 or (len(rest) == 3 and rest[1] != "federatedIdentityCredentials"):
            raise self._no_segment(rest)
        if len(rest) >= 2:
            app = self.tenant.applications.get(rest[0])
            if app is None:
                raise _not_found(rest[0])
            if rest[1] == "owners" and len(rest) == 2:
                return self._owners(req, app.owner_ids)
            if rest[1] == "federatedIdentityCredentials":
                return self._federated_credentials(req, app, rest[2:])
            raise self._no_segment(rest)
        selected = parse_select(
            req.query.get("$select"), render.APPLICATION_PROPERTIES, "application"
        )
        if rest:
            app = self.tenant.applications.get(rest[0])
            if app is None:
                raise _not_found(rest[0])
            return GraphResponse(
                200,
                {
                    "@odata.context": self._context(req, "applications/$entity"),
                    **apply_select(render.application(app), selected),
                },
            )
        clauses = self._filter(req, {k: k for k in _APPLICATION_FIELDS}, "application")

        def compute() -> list[Any]:
            by_field = {c.field: c.values for c in clauses}
            apps = self.tenant.applications
            if "id" in by_field:
                candidates = [apps[v] for v in by_field["id"] if v in apps]
            elif "appId" in by_field:
                found = (self.tenant.application_by_app_id(v) for v in by_field["appId"])
                candidates = [a for a in found if a is not None]
            else:
                candidates = list(apps.values())
            return [a for a in candidates if matches(a, clauses, _APPLICATION_FIELDS)]

        fragment = "applications" + (f"({','.join(selected)})" if selected else "")
        return self._list(
            req, fragment, compute, lambda a: apply_select(render.application(a), selected)
        )

    def _federated_credentials(self, req: GraphRequest, app: Any, rest: list[str]) -> GraphResponse:
        properties = frozenset(
            render.federated_credential({"id": "", "name": "", "issuer": ""}, req.beta)
        )
        selected = parse_select(req.query.get("$select"), properties, "federatedIdentityCredential")
        fragment = f"applications('{app.id}')/federatedIdentityCredentials"

        def full(credential: dict[str, Any]) -> dict[str, Any]:
            return apply_select(render.federated_credential(credential, req.beta), selected)

        if rest:
            found = next(
                (c for c in app.federated_credentials if rest[0] in (c["id"], c["name"])), None
            )
            if found is None:
                raise _not_found(rest[0])
            return GraphResponse(
                200, {"@odata.context": self._context(req, fragment + "/$entity"), **full(found)}
            )
        clauses = self._filter(req, _FEDERATED_FIELDS, "federatedIdentityCredential")

        def compute() -> list[Any]:
            return [
                c
                for c in app.federated_credentials
                if all(c.get(clause.field) in clause.values for clause in clauses)
            ]

        return self._list(req, fragment, compute, full)

    def _owners(self, req: GraphRequest, owner_ids: list[str]) -> GraphResponse:
        selected = parse_select(
            req.query.get("$select"), render.DIRECTORY_OBJECT_PROPERTIES, "directoryObject"
        )
        if "$filter" in req.query:
            raise GraphError(400, "Request_UnsupportedQuery", "$filter is not supported here.")

        def compute() -> list[Any]:
            owners = (self.tenant.directory_object(i) for i in owner_ids)
            return [o for o in owners if o is not None]

        return self._list(
            req,
            "directoryObjects",
            compute,
            lambda o: apply_select(render.directory_object(o) or {}, selected),
        )

    def _get_by_ids(self, req: GraphRequest) -> GraphResponse:
        body = _json_object(req.body)
        ids = body.get("ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise GraphError(400, "Request_BadRequest", "Invalid request: 'ids' must be a list.")
        if len(ids) > MAX_GET_BY_IDS:
            raise GraphError(
                400,
                "Request_BadRequest",
                f"Too many identifiers in the request: {len(ids)} (at most {MAX_GET_BY_IDS}).",
            )
        kinds = {
            "serviceprincipal": self.tenant.service_principals,
            "user": self.tenant.users,
            "group": self.tenant.groups,
            "application": self.tenant.applications,
        }
        wanted = body.get("types") or list(kinds)
        if not isinstance(wanted, list):
            raise GraphError(400, "Request_BadRequest", "Invalid request: 'types' must be a list.")
        collections = []
        for name in wanted:
            key = (
                str(name).lower().removeprefix("microsoft.graph.").removeprefix("#microsoft.graph.")
            )
            if key not in kinds:
                raise GraphError(
                    400, "Request_BadRequest", f"Unsupported directory object type '{name}'."
                )
            collections.append(kinds[key])
        selected = parse_select(
            req.query.get("$select"), render.DIRECTORY_OBJECT_PROPERTIES, "directoryObject"
        )
        found = []
        for object_id in dict.fromkeys(ids):
            for collection in collections:
                obj = collection.get(object_id)
                if obj is not None:
                    found.append(apply_select(render.directory_object(obj) or {}, selected))
                    break
        return GraphResponse(
            200, {"@odata.context": self._context(req, "directoryObjects"), "value": found}
        )

    # ----- reports -------------------------------------------------------------------------

    def _sign_in_activities(self, req: GraphRequest, rest: list[str]) -> GraphResponse:
        if len(rest) > 1:
            raise self._no_segment(rest)
        for option in ("$expand", "$select"):
            if option in req.query:
                raise GraphError(
                    400, "Request_UnsupportedQuery", f"{option} is not supported here."
                )
        fragment = "reports/servicePrincipalSignInActivities"
        if rest:
            for sp in self.tenant.service_principals.values():
                if sp.sign_in and render.sign_in_activity(sp)["id"] == rest[0]:
                    return GraphResponse(
                        200,
                        {
                            "@odata.context": self._context(req, fragment + "/$entity"),
                            **render.sign_in_activity(sp),
                        },
                    )
            raise _not_found(rest[0])
        clauses = self._filter(req, {"appId": "appId"}, "servicePrincipalSignInActivity")

        def compute() -> list[Any]:
            if clauses:
                app_ids = clauses[0].values
                found = (self.tenant.service_principal_by_app_id(a) for a in app_ids)
                candidates = [sp for sp in found if sp is not None]
            else:
                candidates = list(self.tenant.service_principals.values())
            return [sp for sp in candidates if sp.sign_in]

        return self._list(req, fragment, compute, render.sign_in_activity)

    # ----- shared listing machinery ------------------------------------------------------

    def _filter(self, req: GraphRequest, fields: Mapping[str, str], type_name: str) -> list[Any]:
        text = req.query.get("$filter")
        if not text:
            return []
        return parse_filter(text, {k.lower(): k for k in fields}, type_name)

    def _page_size(self, req: GraphRequest) -> int:
        top = req.query.get("$top")
        if top is None:
            return self.page_size
        try:
            value = int(top)
        except ValueError:
            value = 0
        if not 1 <= value <= MAX_TOP:
            raise GraphError(
                400,
                "Request_BadRequest",
                f"Invalid page size specified: '{top}'. Must be between 1 and {MAX_TOP} inclusive.",
            )
        return value

    def _list(
        self,
        req: GraphRequest,
        fragment: str,
        compute: Callable[[], list[Any]],
        renderer: Callable[[Any], dict[str, Any]],
    ) -> GraphResponse:
        count = req.query.get("$count", "").lower()
        if count not in ("", "true", "false"):
            raise GraphError(400, "BadRequest", f"Invalid value '{count}' for $count.")
        if count == "true" and req.headers.get("ConsistencyLevel", "").lower() != "eventual":
            raise GraphError(
                400,
                "Request_UnsupportedQuery",
                "$count is only supported with the header 'ConsistencyLevel: eventual'.",
            )
        page_size = self._page_size(req)
        route = req.path.lower()
        token = req.query.get("$skiptoken")
        if token:
            cursor, next_token = self.cursors.resume(route, token)
        else:
            cursor, next_token = self.cursors.first_page(route, compute(), page_size)
        self.faults.check_page(req.target, cursor.page)
        page = cursor.items[cursor.offset : cursor.offset + cursor.page_size]
        body: dict[str, Any] = {"@odata.context": self._context(req, fragment)}
        if count == "true":
            body["@odata.count"] = len(cursor.items)
        if next_token:
            body["@odata.nextLink"] = self._next_link(req, next_token)
        body["value"] = [renderer(item) for item in page]
        return GraphResponse(200, body)

    def _next_link(self, req: GraphRequest, token: str) -> str:
        kept = [
            part
            for part in req.raw_query.split("&")
            if part and unquote_plus(part.partition("=")[0]).strip().lower() != "$skiptoken"
        ]
        kept.append(f"$skiptoken={token}")
        return f"{self.graph_url}{req.path}?{'&'.join(kept)}"


def _not_found(object_id: str) -> GraphError:
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{object_id}' does not exist or one of its queried reference-property objects "
        "are not present.",
    )


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise GraphError(400, "BadRequest", "Unable to read JSON request payload.") from None
    if not isinstance(body, dict):
        raise GraphError(400, "BadRequest", "The request body must be a JSON object.")
    return body


def _any_role() -> RoleDefinition:
    return RoleDefinition("", "", "", "")


def _any_record(name: str) -> RoleAssignment | RoleSchedule | RoleInstance:
    """A blank record of the listing's type: its rendering gives the selectable properties."""
    if name == "roleAssignments":
        return RoleAssignment("", "", "")
    if name == "roleAssignmentScheduleInstances":
        return RoleInstance("", "", "")
    if name == "roleAssignmentSchedules":
        return RoleSchedule("", "", "", assignment_type="Assigned")
    return RoleSchedule("", "", "")
