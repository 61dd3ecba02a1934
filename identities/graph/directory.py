"""The Graph calls the tenant mirror makes, named for what they read (GRAPH_CONTRACT.md).

Pure Graph: no database here, so the benchmark can time exactly these calls as the floor the
sync is measured against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from .client import GraphClient
from .errors import GraphError, GraphNotFound

T = TypeVar("T")
R = TypeVar("R")

SERVICE_PRINCIPAL_TYPE = "#microsoft.graph.servicePrincipal"
# Directory queries accept at most 15 values in one `in (...)` clause.
FILTER_IN_LIMIT = 15
GET_BY_IDS_LIMIT = 1000
# appRoleAssignedTo pages: Graph's default is 100; its maximum cuts the requests tenfold.
GRANT_PAGE_SIZE = 999
# What a resource API's principal must say for its permissions to be named.
RESOURCE_SELECT = "id,appId,displayName,appRoles"
# The default access role: an appRoleAssignment with this appRoleId grants no permission.
DEFAULT_ACCESS_ROLE_ID = "00000000-0000-0000-0000-000000000000"


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
# Application permissions: one appRoleAssignedTo listing per monitored resource API.
APP_PERMISSION_GRANTS = AssignmentSource(
    "app_permission_grants",
    "servicePrincipals/{resource_id}/appRoleAssignedTo",
    "app_permission",
    "app_role",
)


@dataclass
class AppRegistration:
    """What Graph says about one application object: itself, its owners, its federated
    credentials (`federated_beta`: read from beta, so claimsMatchingExpression was available)."""

    application: dict[str, Any]
    owners: list[dict[str, Any]] = field(default_factory=list)
    federated: list[dict[str, Any]] = field(default_factory=list)
    federated_beta: bool = False


def _quoted(values: Iterable[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _segment(value: str) -> str:
    """An id from Graph (untrusted) as one path segment, whatever it holds."""
    return quote(value, safe="")


def _key(value: str) -> str:
    """An alternate-key literal: servicePrincipals(appId='…')."""
    return quote(value.replace("'", "''"), safe="")


def _all(pages: Iterable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [item for page in pages for item in page]


def is_service_principal(item: dict[str, Any]) -> bool:
    principal = item.get("principal")
    return isinstance(principal, dict) and principal.get("@odata.type") == SERVICE_PRINCIPAL_TYPE


class Directory:
    def __init__(
        self, client: GraphClient, *, concurrency: int = 8, grant_page_size: int = GRANT_PAGE_SIZE
    ) -> None:
        self.client = client
        self.concurrency = max(1, concurrency)
        self.grant_page_size = grant_page_size
        # Federated credentials are read from beta (claimsMatchingExpression) until beta says
        # it will not answer; then from v1.0 for the rest of this directory's life.
        self.federated_from_beta = True

    def _each(self, fetch: Callable[[T], R], items: list[T]) -> list[R]:
        """fetch(item) for every item, concurrently on the client's pooled session, in order.

        One request per item today; a later change can send them as $batch from here.
        """
        if self.concurrency == 1 or len(items) < 2:
            return [fetch(item) for item in items]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(fetch, items))

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
        return dict(zip(principal_ids, self._each(self.owners, principal_ids), strict=True))

    # application permissions -----------------------------------------------------------------

    def resource_principal(self, app_id: str) -> dict[str, Any] | None:
        """A resource API's service principal with its appRoles; None when the tenant has none."""
        try:
            return self.client.get(
                f"servicePrincipals(appId='{_key(app_id)}')", params={"$select": RESOURCE_SELECT}
            )
        except GraphNotFound:
            return None

    def app_role_grant_pages(self, resource_id: str) -> Iterator[list[dict[str, Any]]]:
        """Every grant of the resource's app roles (service principals, users and groups)."""
        return self.client.iter_pages(
            APP_PERMISSION_GRANTS.path.format(resource_id=_segment(resource_id)),
            params={"$top": str(self.grant_page_size)},
        )

    # app registrations -------------------------------------------------------------------------

    def application(self, app_id: str) -> dict[str, Any] | None:
        """The application object with this appId; None when it is not in this tenant."""
        try:
            return self.client.get(f"applications(appId='{_key(app_id)}')")
        except GraphNotFound:
            return None

    def application_owners(self, application_id: str) -> list[dict[str, Any]]:
        return _all(self.client.iter_pages(f"applications/{_segment(application_id)}/owners"))

    def federated_credentials(self, application_id: str) -> tuple[list[dict[str, Any]], bool]:
        """The application's federated credentials, and whether beta (flexible ones) answered.

        A 404 that says the object is gone is the application's, not beta's: it is raised.
        """
        path = f"applications/{_segment(application_id)}/federatedIdentityCredentials"
        if self.federated_from_beta:
            try:
                return _all(self.client.iter_pages(path, version="beta")), True
            except GraphError as exc:
                gone = exc.status == 404 and exc.code == "Request_ResourceNotFound"
                if gone or exc.status not in (400, 404, 501):
                    raise
                self.federated_from_beta = False
        return _all(self.client.iter_pages(path)), False

    def app_registration(self, app_id: str) -> AppRegistration | None:
        """One app registration with its owners and federated credentials; None if absent
        (also when it was deleted between the reads). 401/403 are raised (GraphForbidden)."""
        try:
            application = self.application(app_id)
            if application is None or not isinstance(application.get("id"), str):
                return None
            owners = self.application_owners(application["id"])
            federated, beta = self.federated_credentials(application["id"])
        except GraphNotFound:
            return None
        return AppRegistration(application, owners, federated, beta)

    def app_registrations_of(self, app_ids: list[str]) -> dict[str, AppRegistration | None]:
        """The app registration behind each appId, read concurrently."""
        return dict(zip(app_ids, self._each(self.app_registration, app_ids), strict=True))

    def sign_in_pages(self) -> Iterator[list[dict[str, Any]]]:
        """Beta sign-in activity; raises GraphError (403/404 …) where it is not available."""
        return self.client.iter_pages("reports/servicePrincipalSignInActivities", version="beta")
