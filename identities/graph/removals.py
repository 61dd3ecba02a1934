"""Removing a privileged role assignment, the way GRAPH_CONTRACT.md says for each kind.

Direct active assignment: DELETE roleAssignments/{id}; a 404 is confirmed with a GET before it
counts as already gone. PIM assignment or eligibility: an `adminRemove` schedule request; Graph
answers 400 RoleAssignmentDoesNotExist both when nothing is left and, occasionally, when the
removal did work, so the schedules are re-read to decide rather than trusting the code.

Application permission: DELETE servicePrincipals/{resourceId}/appRoleAssignedTo/{id}, the id
being the appRoleAssignment the review decided on. A re-grant of the same permission is a new
appRoleAssignment with a new id, so this DELETE can never remove a grant made after the
decision: the old id answers 404 (already gone) and the new grant stays. A 404 is confirmed by
reading the principal's own appRoleAssignments before it counts as already gone.

Exactly one removal request is sent per call: the reads that confirm an outcome are GETs.
`current_grants` is what a retried removal reads first (see reviews.services.apply): the grants
Graph lists now for the principal, role, scope and kind, with the ids and creation times that
tell the decided grant from one made after the decision.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from .client import GraphClient
from .errors import GraphError, GraphNotFound
from .values import graph_datetime, text

REMOVED = "removed"
ALREADY_GONE = "already_gone"
APP_PERMISSION = "app_permission"

_REQUESTS = {
    "active": "roleManagement/directory/roleAssignmentScheduleRequests",
    "eligible": "roleManagement/directory/roleEligibilityScheduleRequests",
}
_SCHEDULES = {
    "active": "roleManagement/directory/roleAssignmentSchedules",
    "eligible": "roleManagement/directory/roleEligibilitySchedules",
}
# Every active assignment, direct or through PIM, with when it started (v1.0 roleAssignments
# carry no time, and their ids are derived from role, principal and scope).
_INSTANCES = "roleManagement/directory/roleAssignmentScheduleInstances"


class RemovalImpossible(GraphError):
    """Nothing Graph could do for this row (no id recorded, a kind we cannot remove): retrying
    cannot help, so it is never transient, whatever the missing HTTP status suggests."""

    @property
    def is_transient(self) -> bool:
        return False


class RemovalUnconfirmed(GraphError):
    """Graph said the assignment is gone but still lists it (replication lag): try later."""

    @property
    def is_transient(self) -> bool:
        return True


@dataclass(frozen=True)
class Privilege:
    """What identifies one assignment to Graph."""

    kind: str  # active | eligible | app_permission
    granted_via: str  # direct | pim | app_role
    principal_id: str
    role_id: str  # for a permission: the appRole id
    directory_scope_id: str
    role_assignment_id: str = ""  # for a permission: the appRoleAssignment id
    resource_id: str = ""  # for a permission: the resource API's service principal id


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _direct_rows(client: GraphClient, path: str, privilege: Privilege) -> Iterator[dict[str, Any]]:
    """Rows of a listing held by the principal itself (not through a group) for this role and
    scope: Graph filters on principal and role; the scope is matched here."""
    query = (
        f"principalId eq {_quote(privilege.principal_id)} and "
        f"roleDefinitionId eq {_quote(privilege.role_id)}"
    )
    for page in client.iter_pages(path, params={"$filter": query}):
        for row in page:
            if (
                isinstance(row, dict)
                and (row.get("directoryScopeId") or "/") == (privilege.directory_scope_id or "/")
                and row.get("memberType", "Direct") == "Direct"
            ):
                yield row


def schedule_exists(client: GraphClient, privilege: Privilege) -> bool:
    """True while Graph still lists a direct schedule for this principal, role and scope."""
    return any(True for _ in _direct_rows(client, _SCHEDULES[privilege.kind], privilege))


@dataclass(frozen=True)
class Grant:
    """One grant Graph lists now for a privilege: enough to tell whether it is the grant a
    review decided to remove or one made since."""

    assignment_id: str  # the roleAssignment id: a re-grant of a direct assignment gets the same
    schedule_id: str  # the PIM schedule: a new grant gets a new one
    created_at: datetime | None  # None when Graph gave no usable time


def _app_role_grants(client: GraphClient, privilege: Privilege) -> list[Grant]:
    """The principal's own grants of this permission on this API (one short listing: what a
    principal holds, not everything granted on the API)."""
    path = f"servicePrincipals/{quote(privilege.principal_id, safe='')}/appRoleAssignments"
    return [
        Grant(
            text(row.get("id"), 256),
            "",
            graph_datetime(row.get("createdDateTime")),
        )
        for page in client.iter_pages(path)
        for row in page
        if isinstance(row, dict)
        and str(row.get("resourceId") or "") == privilege.resource_id
        and str(row.get("appRoleId") or "") == privilege.role_id
    ]


def _still_granted(client: GraphClient, privilege: Privilege) -> bool:
    """True while the principal still lists this very appRoleAssignment (replication lag)."""
    try:
        grants = _app_role_grants(client, privilege)
    except GraphNotFound:  # the principal itself is gone, and its grants with it
        return False
    return any(g.assignment_id == privilege.role_assignment_id for g in grants)


def current_grants(client: GraphClient, privilege: Privilege) -> list[Grant]:
    """What Graph lists now for this principal, role, scope and kind (GETs only)."""
    if privilege.kind == APP_PERMISSION:
        try:
            return _app_role_grants(client, privilege)
        except GraphNotFound:  # the principal is gone, and every grant it held
            return []
    if privilege.kind == "active":
        return [
            Grant(
                text(row.get("roleAssignmentOriginId"), 256),
                text(row.get("roleAssignmentScheduleId"), 256),
                graph_datetime(row.get("startDateTime")),
            )
            for row in _direct_rows(client, _INSTANCES, privilege)
        ]
    if privilege.kind == "eligible":
        grants = []
        for row in _direct_rows(client, _SCHEDULES["eligible"], privilege):
            info = row.get("scheduleInfo")
            if not isinstance(info, dict):
                info = {}
            created = graph_datetime(row.get("createdDateTime")) or graph_datetime(
                info.get("startDateTime")
            )
            grants.append(Grant("", text(row.get("id"), 256), created))
        return grants
    raise RemovalImpossible(
        f"Cannot read assignments of kind {privilege.kind!r}.", code="UnsupportedKind"
    )


def assignment_exists(client: GraphClient, role_assignment_id: str) -> bool:
    """True while Graph still returns this direct role assignment."""
    try:
        client.get(f"roleManagement/directory/roleAssignments/{quote(role_assignment_id, safe='')}")
    except GraphNotFound:
        return False
    return True


def remove_app_permission(client: GraphClient, resource_id: str, assignment_id: str) -> str:
    """DELETE one application permission grant by its appRoleAssignment id; REMOVED, or
    ALREADY_GONE on 404 (Request_ResourceNotFound). Throttling and 5xx are retried by the
    client; anything else raises GraphError. Only this id can be removed: a re-grant made
    since the decision has another id and is left in place."""
    if not resource_id or not assignment_id:
        raise RemovalImpossible(
            "No appRoleAssignment id or resource was recorded for this permission: remove it "
            "in Entra ID.",
            code="NoAppRoleAssignmentId",
        )
    path = (
        f"servicePrincipals/{quote(resource_id, safe='')}/appRoleAssignedTo/"
        f"{quote(assignment_id, safe='')}"
    )
    try:
        client.delete(path)
    except GraphNotFound:
        return ALREADY_GONE
    return REMOVED


def remove(client: GraphClient, privilege: Privilege, justification: str) -> str:
    """Send the one removal request; REMOVED or ALREADY_GONE, else GraphError."""
    if privilege.kind == APP_PERMISSION:
        result = remove_app_permission(client, privilege.resource_id, privilege.role_assignment_id)
        if result == ALREADY_GONE and _still_granted(client, privilege):
            raise RemovalUnconfirmed(
                "Graph answered 404 to the removal but still lists the permission grant.",
                status=404,
                code="Request_ResourceNotFound",
            )
        return result
    if privilege.kind == "active" and privilege.granted_via == "direct":
        if not privilege.role_assignment_id:
            raise RemovalImpossible(
                "No role assignment id was recorded for this assignment: remove it in Entra ID.",
                code="NoRoleAssignmentId",
            )
        path = "roleManagement/directory/roleAssignments/" + quote(
            privilege.role_assignment_id, safe=""
        )
        try:
            client.delete(path)
        except GraphNotFound as exc:
            if assignment_exists(client, privilege.role_assignment_id):
                raise RemovalUnconfirmed(
                    "Graph answered 404 to the removal but still lists the assignment.",
                    status=exc.status,
                    code=exc.code or "Request_ResourceNotFound",
                    request_id=exc.request_id,
                ) from exc
            return ALREADY_GONE
        return REMOVED
    if privilege.kind not in _REQUESTS:
        raise RemovalImpossible(
            f"Cannot remove an assignment of kind {privilege.kind!r}.", code="UnsupportedKind"
        )
    body = {
        "action": "adminRemove",
        "principalId": privilege.principal_id,
        "roleDefinitionId": privilege.role_id,
        "directoryScopeId": privilege.directory_scope_id or "/",
        "justification": justification[:500],
    }
    try:
        client.post(_REQUESTS[privilege.kind], body)
    except GraphError as exc:
        if exc.status == 400 and exc.code == "RoleAssignmentDoesNotExist":
            if schedule_exists(client, privilege):
                raise RemovalUnconfirmed(
                    exc.message + " (Graph still lists the schedule)",
                    status=exc.status,
                    code=exc.code,
                    request_id=exc.request_id,
                ) from exc
            return ALREADY_GONE
        raise
    return REMOVED
