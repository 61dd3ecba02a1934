"""The generator's second half: application permissions, app registrations and who can use them.

Runs after the role holders exist and draws from its own seeded PRNG, so the directory roles of
a tenant are the same as before permissions were simulated. It adds the three monitored APIs
(Microsoft Graph, Exchange Online, SharePoint Online) with their real app roles, exactly
`grants` permissions held by service principals on them, an app registration for every
home-tenant application, and noise a correct sync must ignore.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from . import permissions as catalogue
from .auth import FEDERATED_AUDIENCE
from .permissions import DEFAULT_ACCESS_ROLE_ID, Permission, Resource
from .tenant import (
    Application,
    AppRoleAssignment,
    ServicePrincipal,
    SimTenant,
    app_role_assignment_id,
    iso,
)

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
TERRAFORM_ISSUER = "https://app.terraform.io"
# Graph's "never expires" of the legacy portal: a date, not a missing one.
LEGACY_NEVER = "2299-12-31T05:00:00Z"

_WORDS = ("Payroll", "Backup", "Inventory", "Reporting", "Provisioning", "Mail", "Archive")
_KINDS = ("Connector", "Exporter", "Automation", "Scanner", "Gateway", "Bot")
_REPOS = ("infra", "platform", "payroll-sync", "website", "data-pipeline", "identity")
_COUNTS = (1, 2, 3, 4)
_COUNT_WEIGHTS = (40, 30, 20, 10)


class PermissionGenerator:
    """Adds the permission side to a tenant the role generator has built (see module doc)."""

    def __init__(
        self,
        tenant: SimTenant,
        *,
        grants: int,
        seed: int,
        size: int,
        now: datetime,
        role_holders: Sequence[str],
        user_ids: Sequence[str],
        sync_sp_id: str,
        microsoft_tenant: str,
        hostile_names: Sequence[str],
    ) -> None:
        self.tenant = tenant
        self.grants = grants
        self.now = now
        self.role_holders = list(role_holders)
        self.user_ids = list(user_ids)
        self.sync_sp_id = sync_sp_id
        self.microsoft_tenant = microsoft_tenant
        self.hostile_names = hostile_names
        # Reproducible test data, not secrets.
        self.rng = random.Random(f"spreview-simulator/app-permissions/{size}/{seed}/{grants}")  # noqa: S311
        self.count = 0
        self.held: dict[str, set[tuple[str, str]]] = {}
        self.forced_apps: dict[str, dict[str, Any]] = {}

    # ----- small helpers ----------------------------------------------------------------------

    def guid(self) -> str:
        n = self.rng.getrandbits(128)
        n = (n & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC000 << 48) | (0x8000 << 48)
        h = f"{n:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def days_ago(self, low: float, high: float) -> str:
        return iso(self.now - timedelta(days=self.rng.uniform(low, high)))

    def pick(self, items: Sequence[Any]) -> Any:
        return items[int(self.rng.random() * len(items))]

    # ----- build ------------------------------------------------------------------------------

    def build(self) -> None:
        self.resources = {r.app_id: self._resource(r) for r in catalogue.RESOURCES}
        self.lob_api, self.lob_roles = self._line_of_business_api()
        self._forced()
        while self.count < self.grants:
            self._random_holder()
        self._noise()
        self._applications()

    def _resource(self, resource: Resource) -> ServicePrincipal:
        sp = ServicePrincipal(
            id=self.guid(),
            app_id=resource.app_id,
            display_name=resource.display_name,
            app_display_name=resource.display_name,
            app_owner_organization_id=self.microsoft_tenant,
            sign_in_audience="AzureADMultipleOrgs",
            service_principal_names=list(resource.service_principal_names),
            created_date_time=self.days_ago(1500, 2500),
            app_roles=catalogue.app_roles(resource),
        )
        self.tenant.service_principals[sp.id] = sp
        return sp

    def _line_of_business_api(self) -> tuple[ServicePrincipal, list[dict[str, Any]]]:
        """An API of the organisation's own: its app roles are not monitored, so grants on it
        are noise for the sync."""
        roles = [
            catalogue.app_role(Permission(self.guid(), value, name, name + "."))
            for value, name in (
                ("Orders.Read.All", "Read all orders"),
                ("Orders.ReadWrite.All", "Read and write all orders"),
            )
        ]
        app_id = self.guid()
        sp = ServicePrincipal(
            id=self.guid(),
            app_id=app_id,
            display_name="Contoso Orders API",
            app_display_name="Contoso Orders API",
            app_owner_organization_id=self.tenant.tenant_id,
            tags=["WindowsAzureActiveDirectoryIntegratedApp"],
            service_principal_names=[app_id, f"api://{app_id}"],
            owner_ids=[self.pick(self.user_ids)],
            created_date_time=self.days_ago(300, 900),
            app_roles=roles,
        )
        self.tenant.service_principals[sp.id] = sp
        return sp, roles

    # ----- holders ------------------------------------------------------------------------------

    def _new_principal(self, sp_type: str = "Application", *, home: bool = True) -> str:
        index = len(self.held)
        if index % 11 == 5:
            name = self.hostile_names[index % len(self.hostile_names)]
        elif sp_type == "ManagedIdentity":
            name = f"mi-{self.pick(_WORDS).lower()}-graph-{index:04d}"
        else:
            name = f"{self.pick(_WORDS)} Graph {self.pick(_KINDS)} {index:04d}"
        app_id = self.guid()
        sp = ServicePrincipal(
            id=self.guid(),
            app_id=app_id,
            display_name=name,
            sp_type=sp_type,
            service_principal_names=[app_id],
            created_date_time=self.days_ago(20, 2000),
            sign_in={"applicationAuthenticationClient": [self.days_ago(0, 40), self.guid()]},
        )
        if sp_type == "Application":
            sp.app_display_name = name
            sp.tags = ["WindowsAzureActiveDirectoryIntegratedApp"]
            if home:
                sp.app_owner_organization_id = self.tenant.tenant_id
                sp.owner_ids = self._owners()
            else:
                sp.app_owner_organization_id = self.guid()
                sp.sign_in_audience = "AzureADMultipleOrgs"
        else:
            resource = f"Microsoft.ManagedIdentity/userAssignedIdentities/{name}"
            sp.alternative_names = [
                "isExplicit=True",
                f"/subscriptions/{self.guid()}/resourcegroups/rg-automation/providers/{resource}",
            ]
            sp.sign_in_audience = None
        self.tenant.service_principals[sp.id] = sp
        self.held.setdefault(sp.id, set())
        return sp.id

    def _owners(self) -> list[str]:
        roll = self.rng.random()
        if roll < 0.15:
            return []
        k = min(len(self.user_ids), self.rng.randint(1, 2))
        return self.rng.sample(self.user_ids, k=k)

    def _grant(
        self, principal_id: str, resource: ServicePrincipal, role_id: str, *, counted: bool
    ) -> bool:
        """One appRoleAssignment; counted grants are the expected (monitored) ones."""
        key = (resource.id, role_id)
        held = self.held.setdefault(principal_id, set())
        if key in held:
            return False
        held.add(key)
        holder = self.tenant.directory_object(principal_id)
        assert holder is not None
        self.tenant.app_role_assignments.add(
            AppRoleAssignment(
                id=app_role_assignment_id(principal_id, self.rng.randbytes(16)),
                app_role_id=role_id,
                principal_id=principal_id,
                principal_type=(
                    "ServicePrincipal"
                    if principal_id in self.tenant.service_principals
                    else "User"
                    if principal_id in self.tenant.users
                    else "Group"
                ),
                resource_id=resource.id,
                principal_display_name=holder.display_name,
                resource_display_name=resource.display_name,
                created_date_time=self.days_ago(1, 1500),
            )
        )
        if counted:
            self.count += 1
        return True

    def _give(self, principal_id: str, plan: Sequence[tuple[str, str]]) -> None:
        """Monitored permissions by (resource appId, value), within the budget."""
        for app_id, value in plan:
            if self.count >= self.grants:
                return
            resource = self.resources[app_id]
            permission = catalogue.by_value(_RESOURCE_BY_APP_ID[app_id], value)
            self._grant(principal_id, resource, permission.id, counted=True)

    def _forced(self) -> None:
        """The cases a tiny tenant must still contain, in order of importance."""
        if self.grants <= 0:
            return
        graph, exchange, sharepoint = (
            catalogue.GRAPH_APP_ID,
            catalogue.EXCHANGE_APP_ID,
            catalogue.SHAREPOINT_APP_ID,
        )
        # Tier 0 through a permission alone; a person owns the registration, which holds a
        # two-year secret next to a GitHub Actions federated credential.
        tier0 = self._new_principal()
        self.forced_apps[tier0] = {
            "owners": [self.user_ids[2 % len(self.user_ids)]],
            "passwords": [self._password(days_valid=730)],
            "federated": [self._github(subject_branch="main")],
        }
        self._give(
            tier0, [(graph, "RoleManagement.ReadWrite.Directory"), (graph, "Directory.Read.All")]
        )
        # Owned by another service principal; a certificate without an end date.
        owned_by_sp = self._new_principal()
        owner = self.role_holders[0] if self.role_holders else self.sync_sp_id
        self.forced_apps[owned_by_sp] = {
            "owners": [owner],
            "keys": [self._certificate(None)],
            "passwords": [self._password(end=LEGACY_NEVER)],
        }
        self._give(owned_by_sp, [(graph, "AppRoleAssignment.ReadWrite.All")])
        # Both a directory role and permissions.
        both = self._first_role_holder("Application") or self._first_role_holder(None)
        if both:
            self._give(both, [(graph, "Application.ReadWrite.All"), (graph, "Mail.ReadWrite")])
        identity = self._first_role_holder("ManagedIdentity")
        if identity:
            self._give(identity, [(exchange, "full_access_as_app")])
        # Exchange and SharePoint; a flexible federated credential beside a secret.
        mailer = self._new_principal()
        self.forced_apps[mailer] = {
            "owners": self.user_ids[3:5] or self.user_ids[:1],
            "passwords": [self._password(days_valid=180)],
            "federated": [self._github(flexible=True)],
        }
        self._give(
            mailer, [(exchange, "Exchange.ManageAsApp"), (sharepoint, "Sites.FullControl.All")]
        )
        # Another organisation's app: no registration in this tenant.
        vendor = self._new_principal(home=False)
        self._give(vendor, [(graph, "Mail.Read"), (graph, "Files.Read.All")])

    def _first_role_holder(self, sp_type: str | None) -> str | None:
        for principal_id in self.role_holders:
            sp = self.tenant.service_principals[principal_id]
            if sp_type is None or (
                sp.sp_type == sp_type
                and (
                    sp_type != "Application"
                    or sp.app_owner_organization_id == self.tenant.tenant_id
                )
            ):
                return principal_id
        return None

    def _random_holder(self) -> None:
        roll = self.rng.random()
        if roll < 0.3 and self.role_holders:
            principal_id = self.pick(self.role_holders)  # privileged both ways
        elif roll < 0.5:
            principal_id = self._new_principal("ManagedIdentity")
        else:
            principal_id = self._new_principal(home=self.rng.random() < 0.9)
        count = self.rng.choices(_COUNTS, _COUNT_WEIGHTS)[0]
        self._give(principal_id, [self._random_permission() for _ in range(count)])

    def _random_permission(self) -> tuple[str, str]:
        roll = self.rng.random()
        if roll < 0.05:
            return catalogue.EXCHANGE_APP_ID, self.pick(catalogue.EXCHANGE_PERMISSIONS).value
        if roll < 0.08:
            return catalogue.SHAREPOINT_APP_ID, "Sites.FullControl.All"
        graph = catalogue.GRAPH_PERMISSIONS
        if roll < 0.18:
            pool = [p for p in graph if p.value in catalogue.TIER0_VALUES]
        elif roll < 0.5:
            pool = [
                p
                for p in graph
                if p.value not in catalogue.TIER0_VALUES and p.value not in catalogue.READ_VALUES
            ]
        else:
            pool = [p for p in graph if p.value in catalogue.READ_VALUES]
        return catalogue.GRAPH_APP_ID, self.pick(pool).value

    # ----- noise ------------------------------------------------------------------------------

    def _noise(self) -> None:
        """Holders the sync must not mirror: users and groups with app roles on Graph, grants on
        an API that is not monitored, and default-access assignments (appRoleId all zeros)."""
        if self.grants <= 0:
            return
        graph = self.resources[catalogue.GRAPH_APP_ID]
        readers = [p for p in catalogue.GRAPH_PERMISSIONS if p.value in catalogue.READ_VALUES]
        for i in range(max(2, self.grants // 25)):
            user_id = self.user_ids[(i * 7) % len(self.user_ids)]
            role_id = DEFAULT_ACCESS_ROLE_ID if i % 2 else self.pick(readers).id
            self._grant(user_id, graph, role_id, counted=False)
        for i, group_id in enumerate(list(self.tenant.groups)[:2]):
            role_id = DEFAULT_ACCESS_ROLE_ID if i else self.pick(readers).id
            self._grant(group_id, graph, role_id, counted=False)
        candidates = [p for p in self.held if p in self.tenant.service_principals]
        candidates += self.role_holders
        for _ in range(max(2, self.grants // 20)):
            role = self.pick(self.lob_roles)
            self._grant(self.pick(candidates), self.lob_api, role["id"], counted=False)
        self._grant(self.pick(candidates), self.lob_api, DEFAULT_ACCESS_ROLE_ID, counted=False)
        self._grant(self.pick(candidates), graph, DEFAULT_ACCESS_ROLE_ID, counted=False)

    # ----- app registrations --------------------------------------------------------------------

    def _applications(self) -> None:
        """One registration per home-tenant application principal (the sync's own too)."""
        for sp in list(self.tenant.service_principals.values()):
            if sp.sp_type != "Application" or sp.app_owner_organization_id != self.tenant.tenant_id:
                continue
            app = Application(
                id=self.guid(),
                app_id=sp.app_id,
                display_name=sp.display_name,
                created_date_time=sp.created_date_time,
                publisher_domain=self.tenant.default_domain,
            )
            forced = self.forced_apps.get(sp.id)
            if forced is not None:
                app.owner_ids = list(forced["owners"])
                app.password_credentials = list(forced.get("passwords", ()))
                app.key_credentials = list(forced.get("keys", ()))
                app.federated_credentials = list(forced.get("federated", ()))
            elif sp.id == self.sync_sp_id:
                self._sync_registration(app, sp)
            else:
                self._random_registration(app, sp)
            self.tenant.applications[app.id] = app

    def _sync_registration(self, app: Application, sp: ServicePrincipal) -> None:
        app.owner_ids = list(sp.owner_ids)
        secret = self._password(days_valid=365)
        secret["hint"] = self.tenant.app.client_secret[:3]
        secret["displayName"] = "spreview sync"
        app.password_credentials = [secret]
        app.federated_credentials = [
            {
                "id": self.guid(),
                "name": c["name"],
                "issuer": c["issuer"],
                "subject": c["subject"],
                "audiences": list(c.get("audiences") or [FEDERATED_AUDIENCE]),
                "description": "Kubernetes service account of the sync worker",
                "claimsMatchingExpression": None,
            }
            for c in self.tenant.app.federated_credentials
        ]

    def _random_registration(self, app: Application, sp: ServicePrincipal) -> None:
        roll = self.rng.random()
        if roll < 0.7:
            app.owner_ids = list(sp.owner_ids)  # the same team owns both objects
        elif roll < 0.9:
            app.owner_ids = self._owners()
        app.password_credentials = [
            self._password(days_valid=self.pick((90, 180, 365, 730, 730, 1095)))
            for _ in range(self.rng.choices((0, 1, 2), (30, 55, 15))[0])
        ]
        if self.rng.random() < 0.3:
            app.key_credentials = [self._certificate(self.pick((180, 365, 730)))]
        if self.rng.random() < 0.12:
            app.federated_credentials = [self._federated(sp)]

    def _password(self, *, days_valid: float = 730, end: str | None = None) -> dict[str, Any]:
        started = self.now - timedelta(days=self.rng.uniform(10, max(11.0, days_valid - 5)))
        return {
            "customKeyIdentifier": None,
            "displayName": self.pick(("ci pipeline", "automation", "created in portal", None)),
            "endDateTime": end or iso(started + timedelta(days=days_valid)),
            "hint": "".join(self.rng.choices("abcdefghijkmnopqrstuvwxyzABCDEFGH0123456789", k=3)),
            "keyId": self.guid(),
            "secretText": None,
            "startDateTime": iso(started),
        }

    def _certificate(self, days_valid: float | None) -> dict[str, Any]:
        """A certificate; days_valid None leaves endDateTime out (null), as for a key that
        never expires."""
        started = self.now - timedelta(days=self.rng.uniform(10, 300))
        return {
            "customKeyIdentifier": f"{self.rng.getrandbits(160):040X}",
            "displayName": "CN=automation",
            "endDateTime": iso(started + timedelta(days=days_valid)) if days_valid else None,
            "key": None,
            "keyId": self.guid(),
            "startDateTime": iso(started),
            "type": "AsymmetricX509Cert",
            "usage": "Verify",
        }

    def _github(self, *, subject_branch: str = "main", flexible: bool = False) -> dict[str, Any]:
        repo = f"contoso/{self.pick(_REPOS)}"
        credential: dict[str, Any] = {
            "id": self.guid(),
            "name": f"github-{repo.split('/')[1]}-{'any-branch' if flexible else subject_branch}",
            "issuer": GITHUB_ISSUER,
            "subject": f"repo:{repo}:ref:refs/heads/{subject_branch}",
            "audiences": [FEDERATED_AUDIENCE],
            "description": "Deploys from GitHub Actions",
            "claimsMatchingExpression": None,
        }
        if flexible:
            # Beta only: a pattern in place of a subject, matching every branch.
            credential["subject"] = None
            credential["claimsMatchingExpression"] = {
                "value": f"claims['sub'] matches 'repo:{repo}:ref:refs/heads/*'",
                "languageVersion": 1,
            }
        return credential

    def _federated(self, sp: ServicePrincipal) -> dict[str, Any]:
        roll = self.rng.random()
        if roll < 0.5:
            return self._github(subject_branch=self.pick(("main", "release")), flexible=roll < 0.1)
        if roll < 0.8:
            cluster = self.guid()
            return {
                "id": self.guid(),
                "name": "aks-workload",
                "issuer": f"https://westeurope.oic.prod-aks.azure.com/{self.tenant.tenant_id}/"
                f"{cluster}/",
                "subject": f"system:serviceaccount:{self.pick(_WORDS).lower()}:worker",
                "audiences": [FEDERATED_AUDIENCE],
                "description": None,
                "claimsMatchingExpression": None,
            }
        return {
            "id": self.guid(),
            "name": "terraform-cloud-apply",
            "issuer": TERRAFORM_ISSUER,
            "subject": "organization:contoso:project:identity:workspace:entra:run_phase:apply",
            "audiences": [FEDERATED_AUDIENCE],
            "description": "Terraform Cloud runs",
            "claimsMatchingExpression": None,
        }


_RESOURCE_BY_APP_ID = {r.app_id: r for r in catalogue.RESOURCES}
