"""Removing a privileged role assignment, the way GRAPH_CONTRACT.md says for each kind.

Direct active assignment: DELETE roleAssignments/{id}; a 404 is confirmed with a GET before it
counts as already gone. PIM assignment or eligibility: an `adminRemove` schedule request; Graph
answers 400 RoleAssignmentDoesNotExist both when nothing is left and, occasionally, when the
removal did work, so the schedules are re-read to decide rather than trusting the code.

Exactly one removal request is sent per call: the reads that confirm an outcome are GETs.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from .client import GraphClient
from .errors import GraphError, GraphNotFound

REMOVED = "removed"
ALREADY_GONE = "already_gone"

_REQUESTS = {
    "active": "roleManagement/directory/roleAssignmentScheduleRequests",
    "eligible": "roleManagement/directory/roleEligibilityScheduleRequests",
}
_SCHEDULES = {
    "active": "roleManagement/directory/roleAssignmentSchedules",
    "eligible": "roleManagement/directory/roleEligibilitySchedules",
}


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

    kind: str  # active | eligible
    granted_via: str  # direct | pim
    principal_id: str
    role_id: str
    directory_scope_id: str
    role_assignment_id: str = ""


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def schedule_exists(client: GraphClient, privilege: Privilege) -> bool:
    """True while Graph still lists a direct schedule for this principal, role and scope."""
    query = (
        f"principalId eq {_quote(privilege.principal_id)} and "
        f"roleDefinitionId eq {_quote(privilege.role_id)}"
    )
    for page in client.iter_pages(_SCHEDULES[privilege.kind], params={"$filter": query}):
        for schedule in page:
            scope = schedule.get("directoryScopeId") or "/"
            if (
                scope == (privilege.directory_scope_id or "/")
                and schedule.get("memberType", "Direct") == "Direct"
            ):
                return True
    return False


def assignment_exists(client: GraphClient, role_assignment_id: str) -> bool:
    """True while Graph still returns this direct role assignment."""
    try:
        client.get(f"roleManagement/directory/roleAssignments/{quote(role_assignment_id, safe='')}")
    except GraphNotFound:
        return False
    return True


def remove(client: GraphClient, privilege: Privilege, justification: str) -> str:
    """Send the one removal request; REMOVED or ALREADY_GONE, else GraphError."""
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
