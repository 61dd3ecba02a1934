"""Secrets, certificates and federated credentials as a reviewer reads them: dates, status,
findings (no expiry, a secret valid over a year, a secret beside a federated credential), and
who can act as a principal (owners and credentials of it and of its app registration).

The sync stores this metadata as JSON; a bad item or date must show as "unknown", never break
the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .graph.values import graph_datetime

EXPIRY_WARNING_DAYS = 30


@dataclass(frozen=True)
class CredentialRow:
    kind: str
    display_name: str
    key_id: str
    type: str
    usage: str
    start: datetime | None
    end: datetime | None
    end_raw: str
    status: str  # expired | expiring | valid | unknown
    days_left: int | None


def credential_status(end: datetime | None, now: datetime) -> tuple[str, int | None]:
    """The status of a credential ending at `end`, and its whole days left while not expired."""
    if end is None:
        return "unknown", None
    if end <= now:
        return "expired", None
    left = end - now
    status = "expiring" if left <= timedelta(days=EXPIRY_WARNING_DAYS) else "valid"
    return status, left.days  # 0 means under a day


def credential_row(item: dict[str, Any], now: datetime) -> CredentialRow:
    end = graph_datetime(item.get("end"))
    status, days_left = credential_status(end, now)
    return CredentialRow(
        kind=str(item.get("kind") or ""),
        display_name=str(item.get("displayName") or ""),
        key_id=str(item.get("keyId") or ""),
        type=str(item.get("type") or ""),
        usage=str(item.get("usage") or ""),
        start=graph_datetime(item.get("start")),
        end=end,
        # Shown when the end is not a date, so a reviewer sees what Graph (or a bad sync) wrote.
        end_raw="" if item.get("end") is None else str(item.get("end")),
        status=status,
        days_left=days_left,
    )


def credential_rows(items: Any, now: datetime) -> list[CredentialRow]:
    """Rows for the dict items of a stored credential list, soonest expiry first, unknown last."""
    if not isinstance(items, list):
        return []
    rows = [credential_row(item, now) for item in items if isinstance(item, dict)]
    far_future = datetime.max.replace(tzinfo=UTC)
    return sorted(rows, key=lambda row: row.end or far_future)


# A secret (password credential) living longer than this is a finding: Microsoft's guidance is
# to rotate secrets well within a year, and the portal's own maximum is two years.
LONG_SECRET_DAYS = 365
# Graph has no "never expires": old tooling wrote 2299-12-31 (or 9999-12-31) as the end instead.
NO_EXPIRY_YEAR = 2299

KIND_LABELS = {"secret": "Secret", "certificate": "Certificate"}
FINDING_LABELS = {
    "no_expiry": "no expiry",
    "long_secret": "long-lived secret",
    "secret_beside_federated": "secret not needed?",
}


@dataclass(frozen=True)
class Finding:
    """Something about a credential a reviewer should weigh before keeping a privilege."""

    code: str  # no_expiry | long_secret | secret_beside_federated
    text: str
    key_id: str

    @property
    def label(self) -> str:
        return FINDING_LABELS.get(self.code, self.code)


def _lifetime_text(days: int) -> str:
    return f"{days // 365} years" if days >= 2 * 365 else f"{days} days"


def _credential_findings(item: dict[str, Any], has_federated: bool, now: datetime) -> list[Finding]:
    kind = str(item.get("kind") or "")
    label = KIND_LABELS.get(kind, "Credential")
    key_id = str(item.get("keyId") or "")
    end = graph_datetime(item.get("end"))
    if end is not None and end <= now:
        return []  # an expired credential signs nobody in
    if end is None or end.year >= NO_EXPIRY_YEAR:
        # A missing or unreadable end is no expiry as far as anyone can tell.
        found = [Finding("no_expiry", f"{label} without expiry", key_id)]
    elif kind == "secret":
        # Without a readable start, the time still left is a lower bound of the lifetime.
        lifetime = end - (graph_datetime(item.get("start")) or now)
        found = []
        if lifetime > timedelta(days=LONG_SECRET_DAYS):
            until = end.date().isoformat()
            text = f"Secret valid {_lifetime_text(lifetime.days)} (until {until})"
            found.append(Finding("long_secret", text, key_id))
    else:
        found = []
    if kind == "secret" and has_federated:
        found.append(
            Finding(
                "secret_beside_federated",
                "Secret on an app that already signs in with a federated credential: "
                "the secret may not be needed",
                key_id,
            )
        )
    return found


def credential_findings(credentials: list, federated: list, now: datetime) -> list[Finding]:
    """Findings on the credentials that can still sign in, in the order they were listed.

    `federated` is the federated identity credentials of the application holding
    `credentials` (pass [] for a service principal's own credentials).
    """
    if not isinstance(credentials, list):
        return []
    has_federated = isinstance(federated, list) and any(isinstance(f, dict) for f in federated)
    findings: list[Finding] = []
    for item in credentials:
        if isinstance(item, dict):
            findings.extend(_credential_findings(item, has_federated, now))
    return findings


# --- who can act as a principal -------------------------------------------------------------
# Everyone who can sign in as a service principal, or give themselves a way to: owners of the
# principal and of its app registration (an owner can add a credential), and every credential
# on either object. Duck-typed on the models so that models.py can import this module.

PRINCIPAL = "service principal"
APPLICATION = "app registration"


@dataclass(frozen=True)
class OwnerRow:
    id: str
    type: str  # user | servicePrincipal | … (the OData type, shortened)
    display_name: str
    upn: str
    mail: str
    owns: str  # PRINCIPAL or APPLICATION

    @property
    def is_service_principal(self) -> bool:
        """An owner that is itself an app: it cannot review, and whoever controls it controls
        this principal too."""
        return self.type == "servicePrincipal"


@dataclass(frozen=True)
class HeldCredential:
    row: CredentialRow
    held_by: str  # PRINCIPAL or APPLICATION


@dataclass(frozen=True)
class FederatedRow:
    id: str
    name: str
    issuer: str
    subject: str
    audiences: tuple[str, ...]
    description: str
    # A flexible credential's claims-matching expression: any token whose claims match signs
    # in, which is broader than a fixed subject reads.
    pattern: str


@dataclass(frozen=True)
class HeldFinding:
    finding: Finding
    held_by: str
    credential_name: str


@dataclass(frozen=True)
class WhoCanAct:
    owners: list[OwnerRow]
    credentials: list[HeldCredential]
    federated: list[FederatedRow]
    findings: list[HeldFinding]
    # ServicePrincipal.application_state: "" not read yet, found, none, unreadable.
    application_state: str


def owner_rows(items: Any, owns: str) -> list[OwnerRow]:
    """Owners as Graph listed them; items that are not objects are skipped."""
    if not isinstance(items, list):
        return []
    return [
        OwnerRow(
            id=str(item.get("id") or ""),
            type=str(item.get("type") or "").removeprefix("#microsoft.graph."),
            display_name=str(item.get("displayName") or ""),
            upn=str(item.get("userPrincipalName") or ""),
            mail=str(item.get("mail") or ""),
            owns=owns,
        )
        for item in items
        if isinstance(item, dict)
    ]


def _pattern(value: Any) -> str:
    # Graph (beta) gives {"value": "claims['sub'] matches '…'", "languageVersion": 1}.
    if isinstance(value, dict):
        value = value.get("value")
    return value if isinstance(value, str) else ""


def federated_rows(items: Any) -> list[FederatedRow]:
    """Federated identity credentials as stored; odd values become empty, never an error."""
    if not isinstance(items, list):
        return []
    rows = []
    for item in items:
        if not isinstance(item, dict):
            continue
        audiences = item.get("audiences")
        rows.append(
            FederatedRow(
                id=str(item.get("id") or ""),
                name=str(item.get("name") or ""),
                issuer=str(item.get("issuer") or ""),
                subject=str(item.get("subject") or ""),
                audiences=tuple(str(a) for a in audiences if isinstance(a, str))
                if isinstance(audiences, list)
                else (),
                description=str(item.get("description") or ""),
                pattern=_pattern(item.get("claimsMatchingExpression")),
            )
        )
    return rows


def _held_findings(
    credentials: Any, federated: Any, held_by: str, now: datetime
) -> list[HeldFinding]:
    names = {
        str(item.get("keyId") or ""): str(item.get("displayName") or "")
        for item in (credentials if isinstance(credentials, list) else [])
        if isinstance(item, dict)
    }
    return [
        HeldFinding(finding, held_by, names.get(finding.key_id, ""))
        for finding in credential_findings(credentials, federated, now)
    ]


def who_can_act(principal: Any, now: datetime) -> WhoCanAct:
    """Owners and credentials of a ServicePrincipal and of its app registration, if read."""
    application = principal.application
    owners = owner_rows(principal.owners, PRINCIPAL)
    credentials = [
        HeldCredential(row, PRINCIPAL) for row in credential_rows(principal.credentials, now)
    ]
    findings = _held_findings(principal.credentials, [], PRINCIPAL, now)
    federated: list[FederatedRow] = []
    if application is not None:
        owners += owner_rows(application.owners, APPLICATION)
        credentials += [
            HeldCredential(row, APPLICATION)
            for row in credential_rows(application.credentials, now)
        ]
        far_future = datetime.max.replace(tzinfo=UTC)
        credentials.sort(key=lambda held: held.row.end or far_future)
        federated = federated_rows(application.federated_credentials)
        findings += _held_findings(
            application.credentials, application.federated_credentials, APPLICATION, now
        )
    return WhoCanAct(
        owners=owners,
        credentials=credentials,
        federated=federated,
        findings=findings,
        application_state=str(principal.application_state or ""),
    )
