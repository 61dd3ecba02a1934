"""The simulated tenant: directory objects, role assignments and PIM schedules, kept in memory.

Everything the simulator serves is read from a `SimTenant`; tests mutate it through the helpers at
the bottom (which keep the indexes right) and compare what a sync stored with
`expected_privileged_sp_assignments()`. State round-trips through JSON so removals survive a
restart of the simulator.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Generic, NamedTuple, Protocol, TypeVar

FORMAT_VERSION = 1
KINDS = ("active", "pim_active", "eligible")
# The app roles spreview's registration defines; users hold them through app-role assignments.
APP_ROLE_ADMIN = "Admin"
APP_ROLE_AUDITOR = "Auditor"
APP_ROLE_VALUES = (APP_ROLE_ADMIN, APP_ROLE_AUDITOR)


def iso(moment: datetime) -> str:
    """Graph's timestamp format: UTC, second precision, trailing Z."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _guid_bytes_le(text: str) -> bytes:
    """uuid.UUID(text).bytes_le, without building a UUID (the generator calls this a lot)."""
    b = bytes.fromhex(text.replace("-", ""))
    if len(b) != 16:
        raise ValueError(f"not a GUID: {text!r}")
    return b[3::-1] + b[5:3:-1] + b[7:5:-1] + b[8:]


def role_assignment_id(role_definition_id: str, principal_id: str, scope: str) -> str:
    """An opaque id shaped like Entra's: base64url of the two GUIDs, plus a scope suffix."""
    raw = _guid_bytes_le(role_definition_id) + _guid_bytes_le(principal_id)
    text = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    if scope not in ("", "/"):
        digest = hashlib.sha1(scope.encode(), usedforsecurity=False).digest()[:6]
        text += "-" + base64.urlsafe_b64encode(digest).decode()
    return text


class _Record:
    """JSON round-trip for the slotted dataclasses below."""

    __slots__ = ()
    _names: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._field_names()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        try:
            return cls(**data)
        except TypeError:  # a key from another format version: keep what this one knows
            names = cls._field_names()
            return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def _field_names(cls) -> tuple[str, ...]:
        if not cls.__dict__.get("_names"):
            cls._names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
        return cls._names


@dataclass(slots=True, eq=False)
class RoleDefinition(_Record):
    id: str
    display_name: str
    description: str
    template_id: str
    is_built_in: bool = True
    is_enabled: bool = True
    is_privileged: bool = False
    allowed_actions: list[str] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class ServicePrincipal(_Record):
    id: str
    app_id: str
    display_name: str
    sp_type: str = "Application"  # Application | ManagedIdentity | Legacy | SocialIdp
    account_enabled: bool = True
    app_display_name: str | None = None
    app_owner_organization_id: str | None = None
    sign_in_audience: str | None = "AzureADMyOrg"
    tags: list[str] = field(default_factory=list)
    key_credentials: list[dict[str, Any]] = field(default_factory=list)
    password_credentials: list[dict[str, Any]] = field(default_factory=list)
    owner_ids: list[str] = field(default_factory=list)
    service_principal_names: list[str] = field(default_factory=list)
    alternative_names: list[str] = field(default_factory=list)
    created_date_time: str | None = None
    description: str | None = None
    notes: str | None = None
    # {"applicationAuthenticationClient": [when, requestId], "delegatedClient": [...], ...};
    # None: never signed in (the principal is absent from the sign-in activity report).
    sign_in: dict[str, list[str]] | None = None
    # The permissions this principal offers when it is an API (Graph's `appRoles`).
    app_roles: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class User(_Record):
    id: str
    display_name: str
    user_principal_name: str
    mail: str | None = None
    given_name: str | None = None
    surname: str | None = None
    job_title: str | None = None
    account_enabled: bool = True


@dataclass(slots=True, eq=False)
class Group(_Record):
    id: str
    display_name: str
    description: str | None = None
    mail_nickname: str = ""
    member_ids: list[str] = field(default_factory=list)
    is_assignable_to_role: bool = True
    created_date_time: str | None = None


@dataclass(slots=True, eq=False)
class RoleAssignment(_Record):
    """An active assignment as `roleAssignments` lists it (direct, or backing a PIM schedule)."""

    id: str
    principal_id: str
    role_definition_id: str
    directory_scope_id: str = "/"
    app_scope_id: str | None = None
    schedule_id: str | None = None
    created_date_time: str | None = None


@dataclass(slots=True, eq=False)
class RoleSchedule(_Record):
    """A PIM schedule: active (assignment_type set) or eligible (assignment_type None)."""

    id: str
    principal_id: str
    role_definition_id: str
    directory_scope_id: str = "/"
    member_type: str = "Direct"  # Direct | Group
    assignment_type: str | None = None  # Assigned | Activated; None for eligibility
    start_date_time: str | None = None
    end_date_time: str | None = None  # None: noExpiration
    created_using: str | None = None
    created_date_time: str | None = None
    modified_date_time: str | None = None
    status: str = "Provisioned"
    role_assignment_id: str | None = None
    app_scope_id: str | None = None


@dataclass(slots=True, eq=False)
class RoleInstance(_Record):
    """An active assignment as `roleAssignmentScheduleInstances` lists it. Graph lists one for
    every active assignment, "made through PIM … or directly through the role assignments API";
    the simulator derives them on read from the assignments and schedules (never stored)."""

    id: str
    principal_id: str
    role_definition_id: str
    directory_scope_id: str = "/"
    app_scope_id: str | None = None
    member_type: str = "Direct"
    assignment_type: str = "Assigned"
    start_date_time: str | None = None
    end_date_time: str | None = None
    role_assignment_origin_id: str | None = None
    role_assignment_schedule_id: str | None = None


class ActiveInstances:
    """Store-shaped, read-only view (get, by_principal, by_role, all) of the active instances:
    one per direct roleAssignment (starting when it was created) and one per PIM-active
    schedule (its own start; the roleAssignment backing it is not listed twice)."""

    def __init__(self, tenant: SimTenant) -> None:
        self.tenant = tenant

    @staticmethod
    def _direct(ra: RoleAssignment) -> RoleInstance:
        return RoleInstance(
            id=ra.id,
            principal_id=ra.principal_id,
            role_definition_id=ra.role_definition_id,
            directory_scope_id=ra.directory_scope_id,
            app_scope_id=ra.app_scope_id,
            start_date_time=ra.created_date_time,
            role_assignment_origin_id=ra.id,
            role_assignment_schedule_id=ra.id,
        )

    @staticmethod
    def _scheduled(s: RoleSchedule) -> RoleInstance:
        return RoleInstance(
            id=s.role_assignment_id or s.id,
            principal_id=s.principal_id,
            role_definition_id=s.role_definition_id,
            directory_scope_id=s.directory_scope_id,
            app_scope_id=s.app_scope_id,
            member_type=s.member_type,
            assignment_type=s.assignment_type or "Assigned",
            start_date_time=s.start_date_time,
            end_date_time=s.end_date_time,
            role_assignment_origin_id=s.role_assignment_id,
            role_assignment_schedule_id=s.id,
        )

    def _of(
        self, assignments: list[RoleAssignment], schedules: list[RoleSchedule]
    ) -> list[RoleInstance]:
        direct = [self._direct(ra) for ra in assignments if not ra.schedule_id]
        return direct + [self._scheduled(s) for s in schedules]

    def get(self, instance_id: str) -> RoleInstance | None:
        with self.tenant.lock:
            ra = self.tenant.role_assignments.get(instance_id)
            if ra is not None and not ra.schedule_id:
                return self._direct(ra)
            schedule_id = ra.schedule_id if ra is not None else instance_id
            s = self.tenant.assignment_schedules.get(schedule_id or "")
            return self._scheduled(s) if s is not None else None

    def by_principal(self, principal_id: str) -> list[RoleInstance]:
        with self.tenant.lock:
            return self._of(
                self.tenant.role_assignments.by_principal(principal_id),
                self.tenant.assignment_schedules.by_principal(principal_id),
            )

    def by_role(self, role_definition_id: str) -> list[RoleInstance]:
        with self.tenant.lock:
            return self._of(
                self.tenant.role_assignments.by_role(role_definition_id),
                self.tenant.assignment_schedules.by_role(role_definition_id),
            )

    def all(self) -> list[RoleInstance]:
        with self.tenant.lock:
            return self._of(
                self.tenant.role_assignments.all(), self.tenant.assignment_schedules.all()
            )


@dataclass(slots=True, eq=False)
class AppRoleAssignment(_Record):
    """An application permission (or app role) held by a principal on a resource principal.

    Graph names the holder's side `appRoleAssignments` and the resource's `appRoleAssignedTo`;
    it is one object with one id under both. The display names are kept as Graph stores them
    (from when it was granted); they are rendered from the live objects when those exist."""

    id: str
    app_role_id: str
    principal_id: str
    principal_type: str  # ServicePrincipal | User | Group
    resource_id: str
    principal_display_name: str | None = None
    resource_display_name: str | None = None
    created_date_time: str | None = None

    @property
    def role_definition_id(self) -> str:
        """The Store's second index: grants are looked up by resource."""
        return self.resource_id


@dataclass(slots=True, eq=False)
class Application(_Record):
    """An app registration (application object): only in the tenant that owns the app. Its
    owners and credentials decide who can act as the app's service principal."""

    id: str
    app_id: str
    display_name: str
    sign_in_audience: str = "AzureADMyOrg"
    key_credentials: list[dict[str, Any]] = field(default_factory=list)
    password_credentials: list[dict[str, Any]] = field(default_factory=list)
    owner_ids: list[str] = field(default_factory=list)
    # [{"id", "name", "issuer", "subject", "audiences", "description",
    #   "claimsMatchingExpression": None | {"value", "languageVersion"}}]
    federated_credentials: list[dict[str, Any]] = field(default_factory=list)
    created_date_time: str | None = None
    publisher_domain: str | None = None


def app_role_assignment_id(principal_id: str, unique: bytes) -> str:
    """Shaped like Entra's: base64url of the holder's GUID and 16 more bytes (43 characters),
    so the ids of one holder share their first 22 characters, as in a real tenant."""
    raw = _guid_bytes_le(principal_id) + unique[:16].ljust(16, b"\0")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(slots=True, eq=False)
class AppRegistration(_Record):
    """The app the sync signs in as, with every credential the login authority accepts."""

    client_id: str
    display_name: str
    client_secret: str
    service_principal_id: str
    roles: list[str] = field(default_factory=list)
    # [{"thumbprint": SHA-1 hex upper, "thumbprint_sha256": hex, "pem": public certificate}]
    certificates: list[dict[str, str]] = field(default_factory=list)
    # [{"name", "issuer", "subject", "audiences": [...]}]
    federated_credentials: list[dict[str, Any]] = field(default_factory=list)
    # Reply URLs for user sign-in (authorization-code flow). An empty list is a simulator
    # convenience for tests and the demo, whose ports are not known in advance: any
    # http://127.0.0.1:*, http://localhost:* or https://127.0.0.1:* URI is accepted. A non-empty
    # list is enforced as Entra enforces it (exact match, else AADSTS50011).
    redirect_uris: list[str] = field(default_factory=list)
    # App-role assignments of users: user object id -> role values ("Admin", "Auditor"). They
    # reach the app as the id_token's `roles` claim.
    user_roles: dict[str, list[str]] = field(default_factory=dict)


def _principal_type(obj: ServicePrincipal | User | Group) -> str:
    if isinstance(obj, ServicePrincipal):
        return "ServicePrincipal"
    return "User" if isinstance(obj, User) else "Group"


class DemoPerson(NamedTuple):
    """One person on the simulator's sign-in page."""

    user_id: str
    display_name: str
    upn: str
    roles: list[str]


class _HasPrincipalRole(Protocol):
    id: str
    principal_id: str
    role_definition_id: str


T = TypeVar("T", bound=_HasPrincipalRole)


class Store(Generic[T]):
    """Ordered id -> record map with indexes by principal and role, kept up to date on change."""

    def __init__(self) -> None:
        self._items: dict[str, T] = {}
        self._by_principal: dict[str, dict[str, None]] = {}
        self._by_role: dict[str, dict[str, None]] = {}

    def add(self, item: T) -> T:
        if item.id in self._items:
            raise ValueError(f"duplicate id {item.id}")
        self._items[item.id] = item
        self._by_principal.setdefault(item.principal_id, {})[item.id] = None
        self._by_role.setdefault(item.role_definition_id, {})[item.id] = None
        return item

    def remove(self, item_id: str) -> T | None:
        item = self._items.pop(item_id, None)
        if item is not None:
            self._by_principal.get(item.principal_id, {}).pop(item_id, None)
            self._by_role.get(item.role_definition_id, {}).pop(item_id, None)
        return item

    def get(self, item_id: str) -> T | None:
        return self._items.get(item_id)

    def by_principal(self, principal_id: str) -> list[T]:
        return [self._items[i] for i in self._by_principal.get(principal_id, ())]

    def by_role(self, role_definition_id: str) -> list[T]:
        return [self._items[i] for i in self._by_role.get(role_definition_id, ())]

    def all(self) -> list[T]:
        return list(self._items.values())

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._items.values()))

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items


@dataclass(eq=False)
class SimTenant:
    """One Entra tenant: the directory, its role assignments, and the sync's app registration."""

    tenant_id: str
    display_name: str
    default_domain: str
    app: AppRegistration
    role_definitions: dict[str, RoleDefinition] = field(default_factory=dict)
    service_principals: dict[str, ServicePrincipal] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    administrative_units: dict[str, str] = field(default_factory=dict)  # id -> displayName
    role_assignments: Store[RoleAssignment] = field(default_factory=Store)
    assignment_schedules: Store[RoleSchedule] = field(default_factory=Store)
    eligibility_schedules: Store[RoleSchedule] = field(default_factory=Store)
    # Application permissions: indexed by holder (by_principal) and by resource (by_role).
    app_role_assignments: Store[AppRoleAssignment] = field(default_factory=Store)
    applications: dict[str, Application] = field(default_factory=dict)  # app registrations
    generated_with: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Re-entrant: the HTTP handlers hold it while rendering and call helpers that take it.
        self.lock = threading.RLock()
        self.version = 0  # bumped by every mutation helper; the autosave compares it
        self._app_index: tuple[int, dict[str, str]] | None = None
        self._application_index: tuple[int, dict[str, str]] | None = None

    # ----- convenience accessors -----------------------------------------------------------

    @property
    def client_id(self) -> str:
        return self.app.client_id

    @property
    def client_secret(self) -> str:
        return self.app.client_secret

    def touch(self) -> None:
        """Record a change made outside the helpers (so it is saved and indexes rebuilt)."""
        with self.lock:
            self.version += 1
            self._app_index = None
            self._application_index = None

    def directory_object(self, object_id: str) -> ServicePrincipal | User | Group | None:
        return (
            self.service_principals.get(object_id)
            or self.users.get(object_id)
            or self.groups.get(object_id)
        )

    def service_principal_by_app_id(self, app_id: str) -> ServicePrincipal | None:
        with self.lock:
            if self._app_index is None or self._app_index[0] != len(self.service_principals):
                index = {sp.app_id: sp.id for sp in self.service_principals.values()}
                self._app_index = (len(self.service_principals), index)
            sp_id = self._app_index[1].get(app_id)
            return self.service_principals.get(sp_id) if sp_id else None

    def application_by_app_id(self, app_id: str) -> Application | None:
        with self.lock:
            index = self._application_index
            if index is None or index[0] != len(self.applications):
                by_app = {a.app_id: a.id for a in self.applications.values()}
                index = self._application_index = (len(self.applications), by_app)
            object_id = index[1].get(app_id)
            return self.applications.get(object_id) if object_id else None

    def privileged_role_ids(self) -> set[str]:
        return {r.id for r in self.role_definitions.values() if r.is_privileged}

    # ----- what a correct sync must find -----------------------------------------------------

    def expected_privileged_sp_assignments(self) -> set[tuple[str, str, str, str]]:
        """(spObjectId, roleDefinitionId, directoryScopeId, kind) for every privileged role a
        service principal holds itself: direct or PIM-active ("active"), or eligible.

        Users, groups, non-privileged roles and memberships inherited through a group
        (memberType Group) are excluded: none of them is a reviewable service-principal grant.
        """
        with self.lock:
            privileged = self.privileged_role_ids()
            sps = self.service_principals
            found: set[tuple[str, str, str, str]] = set()
            for ra in self.role_assignments:
                if ra.role_definition_id in privileged and ra.principal_id in sps:
                    found.add(
                        (ra.principal_id, ra.role_definition_id, ra.directory_scope_id, "active")
                    )
            for kind, store in (
                ("active", self.assignment_schedules),
                ("eligible", self.eligibility_schedules),
            ):
                for s in store:
                    if (
                        s.member_type == "Direct"
                        and s.role_definition_id in privileged
                        and s.principal_id in sps
                    ):
                        found.add(
                            (s.principal_id, s.role_definition_id, s.directory_scope_id, kind)
                        )
            return found

    def principal_ids_with_privileged_roles(self) -> set[str]:
        """Service principals (only) holding at least one privileged role, active or eligible."""
        return {entry[0] for entry in self.expected_privileged_sp_assignments()}

    def expected_app_permission_grants(self) -> set[tuple[str, str, str]]:
        """(principalId, resourceId, appRoleId) for every application permission a service
        principal holds on a monitored API (Microsoft Graph, Exchange Online, SharePoint
        Online). Users and groups holding app roles, grants on other APIs and default-access
        assignments (the all-zero appRoleId) are excluded: none is a reviewable permission."""
        from .permissions import DEFAULT_ACCESS_ROLE_ID, MONITORED_RESOURCE_APP_IDS

        with self.lock:
            found: set[tuple[str, str, str]] = set()
            for app_id in MONITORED_RESOURCE_APP_IDS:
                resource = self.service_principal_by_app_id(app_id)
                if resource is None:
                    continue
                for grant in self.app_role_assignments.by_role(resource.id):
                    if (
                        grant.principal_id in self.service_principals
                        and grant.app_role_id != DEFAULT_ACCESS_ROLE_ID
                    ):
                        found.add((grant.principal_id, grant.resource_id, grant.app_role_id))
            return found

    def role_holders_that_are_not_service_principals(self) -> set[str]:
        """Object ids of users and groups holding a privileged role in any way: the noise a
        sync must never store as service principals."""
        with self.lock:
            privileged = self.privileged_role_ids()
            holders: set[str] = set()
            for store in (
                self.role_assignments,
                self.assignment_schedules,
                self.eligibility_schedules,
            ):
                for record in store:
                    if record.role_definition_id in privileged and (
                        record.principal_id in self.users or record.principal_id in self.groups
                    ):
                        holders.add(record.principal_id)
            return holders

    # ----- people who sign in -----------------------------------------------------------------

    def demo_people(self) -> list[DemoPerson]:
        """Users who can sign in (enabled accounts), for the sign-in page: admins first, then
        auditors, then everyone else, each group by name."""
        with self.lock:
            people = [
                DemoPerson(u.id, u.display_name, u.user_principal_name, self.app_roles_of(u.id))
                for u in self.users.values()
                if u.account_enabled
            ]

        def rank(person: DemoPerson) -> tuple[int, str, str]:
            first = 0 if APP_ROLE_ADMIN in person.roles else 1 if person.roles else 2
            return first, person.display_name.casefold(), person.upn.casefold()

        return sorted(people, key=rank)

    def app_roles_of(self, user_id: str) -> list[str]:
        """The app roles assigned to a user, in APP_ROLE_VALUES order."""
        with self.lock:
            held = self.app.user_roles.get(user_id) or ()
            return [role for role in APP_ROLE_VALUES if role in held]

    def grant_app_role(self, user_id: str, role: str) -> None:
        """Assign one of the app's roles ("Admin" or "Auditor") to a user (idempotent)."""
        if role not in APP_ROLE_VALUES:
            raise ValueError(f"role must be one of {APP_ROLE_VALUES}")
        with self.lock:
            if user_id not in self.users:
                raise ValueError(f"unknown user {user_id}")
            held = self.app.user_roles.setdefault(user_id, [])
            if role not in held:
                held.append(role)
                self.version += 1

    def revoke_app_role(self, user_id: str, role: str) -> None:
        """Remove an app-role assignment (idempotent)."""
        with self.lock:
            held = self.app.user_roles.get(user_id)
            if held and role in held:
                held.remove(role)
                if not held:
                    del self.app.user_roles[user_id]
                self.version += 1

    def set_redirect_uris(self, uris: list[str]) -> None:
        """Register reply URLs (an empty list restores "any loopback URI")."""
        with self.lock:
            self.app.redirect_uris = [str(u) for u in uris]
            self.version += 1

    # ----- mutation helpers for tests ---------------------------------------------------------

    def add_role_assignment(
        self,
        principal_id: str,
        role_definition_id: str,
        directory_scope_id: str = "/",
        kind: str = "active",
        *,
        end_date_time: datetime | None = None,
        member_type: str = "Direct",
    ) -> str:
        """Grant a role. kind: "active" (direct roleAssignment), "pim_active" (an Assigned
        schedule plus its roleAssignments entry) or "eligible". Returns the new object's id
        (roleAssignment id for "active", schedule id otherwise)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        with self.lock:
            if self.directory_object(principal_id) is None:
                raise ValueError(f"unknown principal {principal_id}")
            if role_definition_id not in self.role_definitions:
                raise ValueError(f"unknown role definition {role_definition_id}")
            now = iso(utcnow())
            end = iso(end_date_time) if end_date_time else None
            self.version += 1
            if kind == "active":
                ra = RoleAssignment(
                    id=self.free_assignment_id(
                        role_definition_id, principal_id, directory_scope_id
                    ),
                    principal_id=principal_id,
                    role_definition_id=role_definition_id,
                    directory_scope_id=directory_scope_id,
                    created_date_time=now,
                )
                self.role_assignments.add(ra)
                return ra.id
            schedule = RoleSchedule(
                id=str(uuid.uuid4()),
                principal_id=principal_id,
                role_definition_id=role_definition_id,
                directory_scope_id=directory_scope_id,
                member_type=member_type,
                assignment_type="Assigned" if kind == "pim_active" else None,
                start_date_time=now,
                end_date_time=end,
                created_date_time=now,
                modified_date_time=now,
            )
            schedule.created_using = schedule.id
            if kind == "eligible":
                self.eligibility_schedules.add(schedule)
                return schedule.id
            if member_type == "Direct":
                ra = RoleAssignment(
                    id=self.free_assignment_id(
                        role_definition_id, principal_id, directory_scope_id
                    ),
                    principal_id=principal_id,
                    role_definition_id=role_definition_id,
                    directory_scope_id=directory_scope_id,
                    schedule_id=schedule.id,
                    created_date_time=now,
                )
                self.role_assignments.add(ra)
                schedule.role_assignment_id = ra.id
            self.assignment_schedules.add(schedule)
            return schedule.id

    def remove_assignment(
        self, principal_id: str, role_definition_id: str, directory_scope_id: str, kind: str
    ) -> int:
        """Remove every grant of this kind for the triple; returns how many objects went.

        "active" removes direct assignments and PIM-active schedules (everything that makes
        the expected tuple active); "pim_active" only the schedules; "eligible" eligibilities.
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        with self.lock:
            removed = 0
            if kind in ("active", "pim_active"):
                removed += self.remove_schedules(
                    self.assignment_schedules, principal_id, role_definition_id, directory_scope_id
                )
            if kind == "active":
                for ra in self.role_assignments.by_principal(principal_id):
                    if (
                        ra.role_definition_id == role_definition_id
                        and ra.directory_scope_id == directory_scope_id
                    ):
                        self.role_assignments.remove(ra.id)
                        removed += 1
            if kind == "eligible":
                removed += self.remove_schedules(
                    self.eligibility_schedules, principal_id, role_definition_id, directory_scope_id
                )
            if removed:
                self.version += 1
            return removed

    def remove_schedules(
        self,
        store: Store[RoleSchedule],
        principal_id: str,
        role_definition_id: str,
        directory_scope_id: str,
    ) -> int:
        """Remove the Direct schedules for the triple (and the roleAssignments they back)."""
        with self.lock:
            removed = 0
            for s in store.by_principal(principal_id):
                if (
                    s.member_type == "Direct"
                    and s.role_definition_id == role_definition_id
                    and s.directory_scope_id == directory_scope_id
                ):
                    store.remove(s.id)
                    if s.role_assignment_id:
                        self.role_assignments.remove(s.role_assignment_id)
                    removed += 1
            if removed:
                self.version += 1
            return removed

    def delete_role_assignment(self, assignment_id: str) -> bool:
        """DELETE semantics: the assignment goes, and with it the PIM schedule it backs."""
        with self.lock:
            ra = self.role_assignments.remove(assignment_id)
            if ra is None:
                return False
            if ra.schedule_id:
                self.assignment_schedules.remove(ra.schedule_id)
            self.version += 1
            return True

    def add_app_role_assignment(
        self, principal_id: str, resource_app_id: str, permission_value: str
    ) -> str:
        """Grant an application permission (by its value, e.g. "Mail.Read") of the API whose
        appId is given to a principal (service principal, user or group); returns the new
        appRoleAssignment id. Granting one already held answers with the existing id, as
        Graph refuses a duplicate."""
        with self.lock:
            holder = self.directory_object(principal_id)
            if holder is None:
                raise ValueError(f"unknown principal {principal_id}")
            resource = self.service_principal_by_app_id(resource_app_id)
            if resource is None:
                raise ValueError(f"no service principal for the API {resource_app_id}")
            role = next((r for r in resource.app_roles if r["value"] == permission_value), None)
            if role is None:
                raise ValueError(f"{resource.display_name} has no permission {permission_value!r}")
            for held in self.app_role_assignments.by_principal(principal_id):
                if held.resource_id == resource.id and held.app_role_id == role["id"]:
                    return held.id
            grant = AppRoleAssignment(
                id=app_role_assignment_id(principal_id, os.urandom(16)),
                app_role_id=role["id"],
                principal_id=principal_id,
                principal_type=_principal_type(holder),
                resource_id=resource.id,
                principal_display_name=holder.display_name,
                resource_display_name=resource.display_name,
                created_date_time=iso(utcnow()),
            )
            self.app_role_assignments.add(grant)
            self.version += 1
            return grant.id

    def remove_app_role_assignment(self, assignment_id: str) -> bool:
        """DELETE semantics: True when the grant existed and is gone now."""
        with self.lock:
            if self.app_role_assignments.remove(assignment_id) is None:
                return False
            self.version += 1
            return True

    def rename_principal(self, object_id: str, name: str) -> None:
        with self.lock:
            obj = self.directory_object(object_id)
            if obj is None:
                raise KeyError(object_id)
            obj.display_name = name
            self.version += 1

    def add_service_principal(self, display_name: str, **attributes: Any) -> str:
        """Create a service principal (random ids unless given); returns its object id."""
        with self.lock:
            sp = ServicePrincipal(
                id=attributes.pop("id", None) or str(uuid.uuid4()),
                app_id=attributes.pop("app_id", None) or str(uuid.uuid4()),
                display_name=display_name,
                **attributes,
            )
            if sp.app_display_name is None and sp.sp_type == "Application":
                sp.app_display_name = display_name
            if not sp.service_principal_names:
                sp.service_principal_names = [sp.app_id]
            if sp.created_date_time is None:
                sp.created_date_time = iso(utcnow())
            self.service_principals[sp.id] = sp
            self.version += 1
            self._app_index = None
            return sp.id

    def delete_service_principal(self, object_id: str) -> None:
        """Delete a principal and everything it holds, as Entra does."""
        with self.lock:
            if self.service_principals.pop(object_id, None) is None:
                raise KeyError(object_id)
            for store in (self.assignment_schedules, self.eligibility_schedules):
                for s in store.by_principal(object_id):
                    store.remove(s.id)
            for ra in self.role_assignments.by_principal(object_id):
                self.role_assignments.remove(ra.id)
            held = self.app_role_assignments.by_principal(object_id)
            for grant in held + self.app_role_assignments.by_role(object_id):
                self.app_role_assignments.remove(grant.id)
            self.version += 1
            self._app_index = None

    def free_assignment_id(self, role_definition_id: str, principal_id: str, scope: str) -> str:
        base = role_assignment_id(role_definition_id, principal_id, scope)
        candidate, n = base, 1
        while candidate in self.role_assignments:
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    # ----- persistence -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        with self.lock:
            return {
                "format": FORMAT_VERSION,
                "tenant_id": self.tenant_id,
                "display_name": self.display_name,
                "default_domain": self.default_domain,
                "generated_with": self.generated_with,
                "app": self.app.to_dict(),
                "administrative_units": self.administrative_units,
                "role_definitions": [r.to_dict() for r in self.role_definitions.values()],
                "service_principals": [s.to_dict() for s in self.service_principals.values()],
                "users": [u.to_dict() for u in self.users.values()],
                "groups": [g.to_dict() for g in self.groups.values()],
                "role_assignments": [a.to_dict() for a in self.role_assignments],
                "assignment_schedules": [s.to_dict() for s in self.assignment_schedules],
                "eligibility_schedules": [s.to_dict() for s in self.eligibility_schedules],
                "app_role_assignments": [g.to_dict() for g in self.app_role_assignments],
                "applications": [a.to_dict() for a in self.applications.values()],
            }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, data: str | bytes | dict[str, Any]) -> SimTenant:
        raw: dict[str, Any] = data if isinstance(data, dict) else json.loads(data)
        if raw.get("format") != FORMAT_VERSION:
            raise ValueError(f"unsupported simulator state format {raw.get('format')!r}")
        tenant = cls(
            tenant_id=raw["tenant_id"],
            display_name=raw["display_name"],
            default_domain=raw["default_domain"],
            app=AppRegistration.from_dict(raw["app"]),
            administrative_units=dict(raw.get("administrative_units", {})),
            generated_with=dict(raw.get("generated_with", {})),
        )
        tenant.role_definitions = {
            r["id"]: RoleDefinition.from_dict(r) for r in raw["role_definitions"]
        }
        tenant.service_principals = {
            s["id"]: ServicePrincipal.from_dict(s) for s in raw["service_principals"]
        }
        tenant.users = {u["id"]: User.from_dict(u) for u in raw["users"]}
        tenant.groups = {g["id"]: Group.from_dict(g) for g in raw["groups"]}
        for a in raw["role_assignments"]:
            tenant.role_assignments.add(RoleAssignment.from_dict(a))
        for s in raw["assignment_schedules"]:
            tenant.assignment_schedules.add(RoleSchedule.from_dict(s))
        for s in raw["eligibility_schedules"]:
            tenant.eligibility_schedules.add(RoleSchedule.from_dict(s))
        # Absent from state files written before application permissions were simulated.
        for g in raw.get("app_role_assignments", ()):
            tenant.app_role_assignments.add(AppRoleAssignment.from_dict(g))
        tenant.applications = {
            a["id"]: Application.from_dict(a) for a in raw.get("applications", ())
        }
        return tenant

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically (temp file + rename) so a crash never leaves half a state file."""
        target = Path(path)
        text = self.to_json()
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SimTenant:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))
