"""Recommendations from the principal's own evidence, each with the reason a reviewer reads.

The privilege's tier and the ways someone can become the principal (its credentials and
those of its app registration, owners of both) weigh in: an unused principal holding a Tier 0
permission with a two-year secret is the attacker's favourite, and its reason says so.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from identities.credentials import credential_findings

REVOKE, APPROVE = "revoke", "approve"
# Tiers whose holders are worth an attacker's while: their reasons name credentials and owners.
HIGH_TIERS = (0, 1)
# How many credential findings a reason names before it says "and N more".
FINDINGS_SHOWN = 2


def _end(credential: dict[str, Any]) -> datetime | None:
    value = credential.get("end")
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _findings_phrase(principal: Any, now: datetime) -> str:
    """ "a secret valid 2 years (until 2028-11-30)" … for credentials of the principal and of
    its app registration that can still sign in; "" when nothing stands out."""
    application = getattr(principal, "application", None)
    findings = credential_findings(_list(principal.credentials), [], now)
    if application is not None:
        findings += credential_findings(
            _list(application.credentials), _list(application.federated_credentials), now
        )
    phrases: list[str] = []
    for finding in findings:
        if finding.code == "secret_beside_federated":
            phrase = "a secret beside a federated credential"
        else:
            phrase = "a " + finding.text[:1].lower() + finding.text[1:]
        if phrase not in phrases:
            phrases.append(phrase)
    if not phrases:
        return ""
    shown = phrases[:FINDINGS_SHOWN]
    extra = len(phrases) - len(shown)
    return ", ".join(shown) + (f" and {extra} more credential finding(s)" if extra else "")


def _owners_phrase(principal: Any) -> str:
    """Who besides the credentials can become it: owners of the principal and of its app
    registration (each can add a credential)."""
    application = getattr(principal, "application", None)
    own = len(_list(getattr(principal, "owners", [])))
    app = len(_list(application.owners)) if application is not None else 0
    parts = []
    if app:
        parts.append(f"{app} owner{'s' if app != 1 else ''} of its app registration")
    if own:
        parts.append(f"{own} owner{'s' if own != 1 else ''} of the service principal")
    return " and ".join(parts)


def _evidence(principal: Any, now: datetime, tier: int | None, privilege: str) -> str:
    """What the privilege and the ways into the principal add to a reason; "" for a lower or
    unclassified privilege."""
    if tier not in HIGH_TIERS:
        return ""
    text = f"holds {privilege or f'a Tier {tier} privilege'}"
    findings = _findings_phrase(principal, now)
    if findings:
        text += f" with {findings}"
    owners = _owners_phrase(principal)
    if owners:
        text += f"; {owners} can add credentials and act as it"
    return text


def _joined(reason: str, evidence: str, glue: str) -> str:
    if not evidence:
        return reason
    return f"{reason.rstrip('.')}{glue}{evidence}."


def recommend(
    principal: Any,
    now: datetime,
    lookback_days: int,
    *,
    tier: int | None = None,
    privilege: str = "",
) -> tuple[str, str]:
    """(recommendation, reason) for one service principal holding one privilege.

    Revoke when it is disabled, has not signed in within the look-back, never signed in, or
    holds only expired credentials; approve otherwise. Sign-in evidence is used only where the
    sync could read it: unknown activity never counts as inactivity. For a Tier 0 or Tier 1
    privilege (`privilege` names it, e.g. "RoleManagement.ReadWrite.Directory on Microsoft
    Graph (Tier 0)") the reason adds the credentials worth a look and the owners who could
    act as the principal, so that "keep" is decided knowing them.
    """
    evidence = _evidence(principal, now, tier, privilege)
    if not principal.account_enabled:
        return REVOKE, "The service principal is disabled: it cannot use this role."
    if principal.sign_in_known:
        last = principal.last_sign_in_at
        if last is None:
            reason = "Never signed in (as far as Entra ID's sign-in activity goes back)."
            return REVOKE, _joined(reason, evidence, ", yet it ")
        if last < now - timedelta(days=lookback_days):
            days = (now - last).days
            reason = f"No sign-in in the last {lookback_days} days (last one {days} days ago)."
            return REVOKE, _joined(reason, evidence, " and it ")
    # The app registration's credentials sign in as the principal too; a federated one has
    # no end date of its own.
    application = getattr(principal, "application", None)
    credentials = [c for c in _list(principal.credentials) if isinstance(c, dict)]
    federated: list = []
    if application is not None:
        credentials += [c for c in _list(application.credentials) if isinstance(c, dict)]
        federated = _list(application.federated_credentials)
    ends = [_end(c) for c in credentials]
    if credentials and not federated and all(end is not None and end <= now for end in ends):
        return REVOKE, "Every secret and certificate has expired: it can no longer sign in."
    if principal.sign_in_known:
        reason = f"Signed in within the last {lookback_days} days."
    else:
        reason = "No evidence against it (sign-in activity is not available)."
    return APPROVE, _joined(reason, evidence, "; check before keeping: it ")
