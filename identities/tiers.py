"""Privilege tiers: how close a directory role or an application permission is to Global Admin.

A reviewer deciding "keep" needs to know that `RoleManagement.ReadWrite.Directory` is one call away
from Global Administrator while `User.Read.All` is not. The tiers come from a data file shipped
with spreview (`tiers_builtin.json`, written from Microsoft's documentation), overlaid by the
admin's own file(s) in `settings.TIER_CLASSIFICATION_FILE` (format: docs/tiers.md). A file that
cannot be read or understood is refused with one line naming the setting, the file and the
problem: start-up stops rather than review with tiers nobody chose.

Two formats are read, detected from the file's shape: spreview's own (`{"format":
"spreview-tiers/1", ...}`) and the JSON lists the community project azure-tiering publishes for
Entra roles and Microsoft Graph application permissions (read at run time, never shipped).
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

FORMAT = "spreview-tiers/1"
SETTING = "TIER_CLASSIFICATION_FILE"
BUILT_IN = "built-in"
BUILT_IN_PATH = Path(__file__).with_name("tiers_builtin.json")
MICROSOFT_GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
TIERS = (0, 1, 2)
# A reason is shown in table cells and CSV columns: one line, short.
WHY_MAX_CHARS = 200

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TOP_KEYS = {"format", "description", "directoryRoles", "applicationPermissions"}
_ROLE_KEYS = {"templateId", "name", "tier", "why"}
_PERMISSION_KEYS = {"resourceAppId", "id", "value", "tier", "why"}
# A permission's value ("Mail.ReadWrite", "full_access_as_app"): no spaces, unlike a role's name.
_PERMISSION_VALUE = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")


@dataclass(frozen=True)
class Tier:
    tier: int  # 0, 1 or 2
    why: str  # one short sentence
    source: str  # "built-in" or the custom file's name


class TierFileError(ValueError):
    """A classification file that cannot be used; the message is one line for an admin."""


@dataclass(frozen=True)
class PermissionEntry:
    """One application permission of one resource API, matched by appRole id, else by value."""

    resource_app_id: str  # lower case
    id: str  # appRole id, lower case; "" to match by value only
    value: str  # lower case; "" to match by id only
    tier: Tier | None  # None: an overlay removing the entries it matches

    def overlaps(self, other: PermissionEntry) -> bool:
        """Same resource and the same appRole id or the same value: the later entry wins."""
        if self.resource_app_id != other.resource_app_id:
            return False
        return bool(self.id and self.id == other.id) or bool(
            self.value and self.value == other.value
        )


class Classification:
    """Tiers of directory roles (by template id) and of application permissions."""

    def __init__(
        self,
        roles: Mapping[str, Tier | None] | None = None,
        permissions: Iterable[PermissionEntry] = (),
    ) -> None:
        self._roles: dict[str, Tier | None] = {k.lower(): v for k, v in (roles or {}).items()}
        self._permissions = tuple(permissions)
        self._by_id: dict[tuple[str, str], Tier | None] = {}
        self._by_value: dict[tuple[str, str], Tier | None] = {}
        for entry in self._permissions:
            if entry.id:
                self._by_id[entry.resource_app_id, entry.id] = entry.tier
            if entry.value:
                self._by_value[entry.resource_app_id, entry.value] = entry.tier

    def role(self, template_id: str) -> Tier | None:
        """The tier of a directory role, by its template id (for built-in roles, its id)."""
        return self._roles.get((template_id or "").lower())

    def permission(self, resource_app_id: str, app_role_id: str, value: str) -> Tier | None:
        """The tier of an application permission: by appRole id, else by value (any case)."""
        resource = (resource_app_id or "").lower()
        key = (resource, (app_role_id or "").lower())
        if key in self._by_id:
            return self._by_id[key]
        return self._by_value.get((resource, (value or "").lower()))

    def overlaid(self, other: Classification) -> Classification:
        """This classification with `other` on top: its entries replace the ones they match."""
        roles = {**self._roles, **other._roles}
        kept = [p for p in self._permissions if not any(p.overlaps(o) for o in other._permissions)]
        return Classification(roles, [*kept, *other._permissions])

    def roles(self) -> Iterator[tuple[str, Tier]]:
        """(template id, tier) of every classified role."""
        return ((k, v) for k, v in self._roles.items() if v is not None)

    def permissions(self) -> Iterator[PermissionEntry]:
        """Every classified permission entry."""
        return (p for p in self._permissions if p.tier is not None)


def tier_label(tier: int | None) -> str:
    """What a tier is called on pages and in CSVs."""
    return "Unclassified" if tier is None else f"Tier {tier}"


def classification() -> Classification:
    """The classification in force: built-in, overlaid by the setting's file(s); read once."""
    return _classification(getattr(settings, SETTING, "") or "")


@functools.cache
def _classification(setting: str) -> Classification:
    result = built_in()
    for path in _paths(setting):
        result = result.overlaid(load(path))
    return result


def _paths(setting: str) -> list[str]:
    """Several files may be given, separated like PATH (e.g. community roles and permissions)."""
    return [p.strip() for p in setting.split(os.pathsep) if p.strip()]


@functools.cache
def built_in() -> Classification:
    """The classification shipped with spreview."""
    return _parse_file(BUILT_IN_PATH, prefix=f"{BUILT_IN_PATH.name}", source=BUILT_IN)


def load(path: str | os.PathLike[str]) -> Classification:
    """Read one classification file, either format; TierFileError names the setting and problem."""
    return _parse_file(Path(path), prefix=f"{SETTING}={path}", source=Path(path).name)


def _parse_file(path: Path, *, prefix: str, source: str) -> Classification:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TierFileError(f"{prefix}: cannot be read: not UTF-8 text") from None
    except OSError as error:
        raise TierFileError(f"{prefix}: cannot be read: {error.strerror or error}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise TierFileError(
            f"{prefix}: not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        ) from None
    try:
        if isinstance(data, dict) and "format" in data:
            if data["format"] != FORMAT:
                raise _Problem(f"unknown format {_show(data['format'])}: expected {_show(FORMAT)}")
            return _parse_spreview(data, source)
        if isinstance(data, list):
            return _parse_community(data, source)
        raise _Problem(
            f'unknown format: expected an object with "format": {_show(FORMAT)} '
            "or a community list of tiered roles or permissions"
        )
    except _Problem as problem:
        raise TierFileError(f"{prefix}: {problem}") from None


class _Problem(Exception):
    """What is wrong inside a file; _parse_file adds the setting and the path."""


def _show(value: Any) -> str:
    shown = json.dumps(value, ensure_ascii=False)
    return shown if len(shown) <= 60 else shown[:57] + "..."


# spreview's own format ---------------------------------------------------------------------------


def _parse_spreview(data: dict[str, Any], source: str) -> Classification:
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise _Problem(f"unknown key {_show(unknown[0])} (expected {', '.join(sorted(_TOP_KEYS))})")
    roles: dict[str, Tier | None] = {}
    first_seen: dict[str, int] = {}
    for number, entry in _entries(data, "directoryRoles"):
        where = f"entry {number} of directoryRoles"
        _check_keys(entry, _ROLE_KEYS, where)
        template_id = _guid(entry, "templateId", where, required=True)
        if "name" in entry and not isinstance(entry["name"], str):
            raise _Problem(f"{where}: name must be text, not {_show(entry['name'])}")
        if template_id in first_seen:
            raise _Problem(
                f"{where}: templateId {template_id} repeats entry {first_seen[template_id]}"
            )
        first_seen[template_id] = number
        roles[template_id] = _tier(entry.get("tier"), entry, where, source, present="tier" in entry)

    permissions: list[PermissionEntry] = []
    seen: list[tuple[int, PermissionEntry]] = []
    for number, entry in _entries(data, "applicationPermissions"):
        where = f"entry {number} of applicationPermissions"
        _check_keys(entry, _PERMISSION_KEYS, where)
        resource = _guid(entry, "resourceAppId", where, required=True)
        app_role_id = _guid(entry, "id", where, required=False)
        value = entry.get("value", "")
        if not isinstance(value, str) or (value and not _PERMISSION_VALUE.match(value)):
            raise _Problem(f"{where}: value must be a permission name, not {_show(value)}")
        if not app_role_id and not value:
            raise _Problem(f"{where}: needs an id (the appRole id) or a value (its name)")
        tier = _tier(entry.get("tier"), entry, where, source, present="tier" in entry)
        permission = PermissionEntry(resource, app_role_id, value.lower(), tier)
        for earlier_number, earlier in seen:
            if permission.overlaps(earlier):
                same = "id" if app_role_id and app_role_id == earlier.id else "value"
                raise _Problem(f"{where}: same {same} as entry {earlier_number}")
        seen.append((number, permission))
        permissions.append(permission)
    return Classification(roles, permissions)


def _entries(data: dict[str, Any], key: str) -> Iterator[tuple[int, dict[str, Any]]]:
    entries = data.get(key, [])
    if not isinstance(entries, list):
        raise _Problem(f"{key} must be a list, not {_show(entries)}")
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise _Problem(f"entry {number} of {key}: must be an object, not {_show(entry)}")
        yield number, entry


def _check_keys(entry: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise _Problem(
            f"{where}: unknown key {_show(unknown[0])} (expected {', '.join(sorted(allowed))})"
        )


def _guid(entry: dict[str, Any], key: str, where: str, *, required: bool) -> str:
    value = entry.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not _GUID.match(value):
        if value is None:
            raise _Problem(f"{where}: {key} is missing")
        raise _Problem(f"{where}: {key} must be a GUID, not {_show(value)}")
    return value.lower()


def _tier(
    value: Any, entry: dict[str, Any], where: str, source: str, *, present: bool
) -> Tier | None:
    """A tier with its reason; `null` removes the entry from the classification underneath."""
    if not present:
        raise _Problem(f"{where}: tier is missing (0, 1, 2, or null to remove)")
    if value is None:
        return None
    # bool is an int in Python; `true` is not a tier.
    if type(value) is not int or value not in TIERS:
        raise _Problem(f"{where}: tier must be 0, 1 or 2, not {_show(value)}")
    why = entry.get("why")
    if not isinstance(why, str) or not why.strip():
        raise _Problem(f"{where}: why is missing (one short sentence: what the holder can do)")
    if "\n" in why or "\r" in why:
        raise _Problem(f"{where}: why must be one line")
    if len(why) > WHY_MAX_CHARS:
        raise _Problem(f"{where}: why is longer than {WHY_MAX_CHARS} characters")
    return Tier(value, why.strip(), source)


# The community format (azure-tiering) ------------------------------------------------------------
#
# A JSON list of {"tier": "0", "id", "assetName", "assetDefinition", "documentationUri",
# "pathType"?, "shortestPath"?, "example"?, "providesFullAccessTo"?}: tiered-entra-roles.json (id
# is the role's template id) and tiered-msgraph-app-permissions.json (id is the Microsoft Graph
# appRole id, assetName its value). Azure resource roles use the same shape and are refused.


def _parse_community(data: list[Any], source: str) -> Classification:
    by_name = {
        _name_key(e.get("assetName")): e
        for e in data
        if isinstance(e, dict) and e.get("shortestPath")
    }
    roles: dict[str, Tier | None] = {}
    permissions: list[PermissionEntry] = []
    first_seen: dict[tuple[str, str], int] = {}
    for number, entry in enumerate(data, start=1):
        where = f"entry {number}"
        if not isinstance(entry, dict):
            raise _Problem(f"{where}: must be an object, not {_show(entry)}")
        name = entry.get("assetName")
        if not isinstance(name, str) or not name.strip():
            raise _Problem(f"{where}: assetName is missing")
        where = f"entry {number} ({name})"
        entry_id = _guid(entry, "id", where, required=True)
        kind = _community_kind(entry, name, where)
        raw_tier = entry.get("tier")
        if raw_tier is None:
            raise _Problem(f"{where}: tier is missing (an untiered list cannot be used)")
        if str(raw_tier).strip() not in {"0", "1", "2"} or isinstance(raw_tier, bool):
            raise _Problem(f"{where}: tier must be 0, 1 or 2, not {_show(raw_tier)}")
        if (kind, entry_id) in first_seen:
            raise _Problem(f"{where}: same id as entry {first_seen[kind, entry_id]}")
        first_seen[kind, entry_id] = number
        tier = Tier(int(str(raw_tier).strip()), _community_why(entry, by_name), source)
        if kind == "role":
            roles[entry_id] = tier
        else:
            value = name.strip().lower() if _PERMISSION_VALUE.match(name.strip()) else ""
            permissions.append(PermissionEntry(MICROSOFT_GRAPH_APP_ID, entry_id, value, tier))
    return Classification(roles, permissions)


def _community_kind(entry: dict[str, Any], name: str, where: str) -> str:
    uri = str(entry.get("documentationUri") or "")
    if "/graph/" in uri:
        return "permission"
    if "/entra/" in uri or "/active-directory/" in uri:
        return "role"
    if "/azure/role-based-access-control/" in uri:
        raise _Problem(f"{where}: an Azure resource role, not an Entra role or Graph permission")
    return "permission" if _PERMISSION_VALUE.match(name.strip()) and "." in name else "role"


def _name_key(name: Any) -> str:
    """Names as the "Same as ..." references spell them, give or take a dot or a capital."""
    return re.sub(r"[^a-z0-9]", "", str(name or "").lower())


def _community_why(entry: dict[str, Any], by_name: Mapping[str, dict[str, Any]]) -> str:
    """The attack path when there is one, else what the asset gives, else what it is; one line."""
    text = str(entry.get("shortestPath") or "").strip()
    # "Same as Application.ReadWrite.All." points at another entry's path: show that path.
    same = re.fullmatch(r"Same as (.+?)\.?", text)
    if same and _name_key(same.group(1)) in by_name:
        text = str(by_name[_name_key(same.group(1))].get("shortestPath") or text)
    if not text and entry.get("providesFullAccessTo"):
        scope = str(entry["providesFullAccessTo"]).strip()
        text = f"Full access to {scope[:1].lower()}{scope[1:]}"
    if not text:
        text = str(entry.get("assetDefinition") or "").strip()
    return one_line(text) or "Classified by the community tier file."


def one_line(text: str, limit: int = WHY_MAX_CHARS) -> str:
    """The first sentence of `text` on one line, cut at a word before `limit` characters."""
    text = " ".join(text.split())
    # A sentence ends at ". " before a capital, but not after "e.g." or "i.e.".
    first = re.split(r"(?<!e\.g\.)(?<!i\.e\.)(?<=[.!?])\s+(?=[A-Z])", text, maxsplit=1)[0]
    if len(first) <= limit:
        return first
    cut = first[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"
