"""The Graph calls the tenant mirror makes, named for what they read (GRAPH_CONTRACT.md).

Pure Graph: no database here, so the benchmark can time exactly these calls as the floor the
sync is measured against.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .client import GraphClient
from .errors import GraphError

SERVICE_PRINCIPAL_TYPE = "#microsoft.graph.servicePrincipal"
# Directory queries accept at most 15 values in one `in (...)` clause.
FILTER_IN_LIMIT = 15
GET_BY_IDS_LIMIT = 1000


@dataclass(frozen=True)
class AssignmentSource:
    """One Graph listing that yields privileges: its path and what its rows mean."""

    name: str
    path: str
    kind: str  # active | eligible
    granted_via: str  # direct | pim


ACTIVE_SCHEDULES = AssignmentSource(
    "active_schedules", "roleManagement/directory/roleAssignmentSchedules", "active", "pim"
)
ELIGIBLE_SCHEDULES = AssignmentSource(
    "eligible_schedules", "roleManagement/directory/roleEligibilitySchedules", "eligible", "pim"
)
ACTIVE_ASSIGNMENTS = AssignmentSource(
    "active_assignments", "roleManagement/directory/roleAssignments", "active", "direct"
)
# Schedules first: a PIM-backed privilege also shows up in roleAssignments, and the sync keeps
# what the schedule said about it.
ASSIGNMENT_SOURCES = (ACTIVE_SCHEDULES, ELIGIBLE_SCHEDULES, ACTIVE_ASSIGNMENTS)


def _quoted(values: Iterable[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def is_service_principal(item: dict[str, Any]) -> bool:
    principal = item.get("principal")
    return isinstance(principal, dict) and principal.get("@odata.type") == SERVICE_PRINCIPAL_TYPE


class Directory:
    def __init__(self, client: GraphClient, *, concurrency: int = 8) -> None:
        self.client = client
        self.concurrency = max(1, concurrency)

    def role_definitions(self) -> Iterator[list[dict[str, Any]]]:
        return self.client.iter_pages("roleManagement/directory/roleDefinitions")

    def privileged_role_ids(self) -> set[str] | None:
        """Role ids Graph itself flags privileged (beta only); None where beta will not say."""
        try:
            ids: set[str] = set()
            for page in self.client.iter_pages(
                "roleManagement/directory/roleDefinitions",
                version="beta",
                params={"$filter": "isPrivileged eq true", "$select": "id,isPrivileged"},
            ):
                ids.update(str(d["id"]) for d in page if d.get("id"))
            return ids
        except GraphError as exc:
            if exc.status in (400, 403, 404, 501):
                return None
            raise

    def assignment_pages(
        self, source: AssignmentSource, role_ids: Iterable[str]
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of the source's rows for these roles, principal expanded (all principal kinds)."""
        ids = sorted(set(role_ids))
        for start in range(0, len(ids), FILTER_IN_LIMIT):
            chunk = ids[start : start + FILTER_IN_LIMIT]
            yield from self.client.iter_pages(
                source.path,
                params={
                    "$filter": f"roleDefinitionId in ({_quoted(chunk)})",
                    "$expand": "principal",
                },
            )

    def service_principals(self, ids: list[str]) -> list[dict[str, Any]]:
        """Current objects for up to 1000 ids; ids of deleted principals are simply absent."""
        if len(ids) > GET_BY_IDS_LIMIT:
            raise ValueError(f"getByIds takes at most {GET_BY_IDS_LIMIT} ids")
        if not ids:
            return []
        body = self.client.post(
            "directoryObjects/getByIds", {"ids": ids, "types": ["servicePrincipal"]}
        )
        value = body.get("value")
        return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []

    def owners(self, principal_id: str) -> list[dict[str, Any]]:
        owners: list[dict[str, Any]] = []
        for page in self.client.iter_pages(f"servicePrincipals/{principal_id}/owners"):
            owners.extend(page)
        return owners

    def owners_of(self, principal_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Owners of each principal, fetched concurrently on the client's pooled session."""
        if self.concurrency == 1 or len(principal_ids) < 2:
            return {pid: self.owners(pid) for pid in principal_ids}
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return dict(zip(principal_ids, pool.map(self.owners, principal_ids), strict=True))

    def sign_in_pages(self) -> Iterator[list[dict[str, Any]]]:
        """Beta sign-in activity; raises GraphError (403/404 …) where it is not available."""
        return self.client.iter_pages("reports/servicePrincipalSignInActivities", version="beta")
