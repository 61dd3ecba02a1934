"""The audit log's hash chain: how an event is hashed, and how a chain is checked.

Each tenant's events (and the events with no tenant, as a chain of their own) are numbered from
1 (`seq`); each stores the previous event's hash and its own, computed over every stored column
in a canonical JSON form. Whoever edits, deletes or back-dates a row past the database's guard
breaks a link that `verify_chains` reports. A chain truncated and rebuilt is consistent in
itself, so each append also records the head it produced in AuditHead, and every results CSV
and every `verify_audit` run publishes the head: a rebuilt chain matches neither.

Changing the serialization below invalidates every stored hash: it is part of the data format.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from .models import AuditEvent, AuditHead

# Every stored column of AuditEvent except `hash` itself (a test keeps this list complete).
HASHED_FIELDS = (
    "id",
    "tenant_id",
    "seq",
    "prev_hash",
    "at",
    "actor_id",
    "actor_label",
    "action",
    "campaign_id",
    "cycle_id",
    "item_id",
    "object_type",
    "object_id",
    "summary",
    "old",
    "new",
)
JSON_FIELDS = ("old", "new")


def _json_value(value: Any) -> Any:
    """JSON as the database gives it back: integral floats read back as integers (jsonb)."""
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def canonical(values: Mapping[str, Any]) -> bytes:
    """The bytes hashed for one event: its columns as JSON, keys sorted, times in UTC ISO."""
    data: dict[str, Any] = {}
    for name in HASHED_FIELDS:
        value = values[name]
        if name in JSON_FIELDS:
            # Through JSON once, so tuples, non-string keys and the like hash as they are stored.
            value = None if value is None else _json_value(json.loads(json.dumps(value)))
        elif isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat(timespec="microseconds")
        data[name] = value
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def event_hash(values: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(values)).hexdigest()


def values_of(event: AuditEvent) -> dict[str, Any]:
    """The event's hashed columns as the database will return them (ints as ints, and so on)."""
    values = {}
    for field in AuditEvent._meta.concrete_fields:
        if field.attname in HASHED_FIELDS:
            value = getattr(event, field.attname)
            values[field.attname] = value if value is None else field.to_python(value)
    return values


@dataclass(frozen=True)
class ChainReport:
    """One chain's state: its head, or the first broken link (event id, seq, what is wrong)."""

    tenant_id: str
    events: int
    head_seq: int
    head_hash: str
    broken_event_id: int | None = None
    broken_seq: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem

    @property
    def name(self) -> str:
        return self.tenant_id or "(no tenant)"


def head_line(tenant_id: str, seq: int, digest: str) -> str:
    """The published form of a head, as `verify_audit --expect` takes it back."""
    return f"{tenant_id}:{seq}:{digest}"


def current_head(tenant_id: str) -> tuple[int, str]:
    """The chain's last seq and hash ((0, "") for an empty chain)."""
    row = (
        AuditEvent.objects.filter(tenant_id=tenant_id)
        .order_by("-seq")
        .values_list("seq", "hash")
        .first()
    )
    return row or (0, "")


def _stream(model: type, tenant_id: str, fields: Iterable[str]) -> Iterator[dict[str, Any]]:
    return (
        model.objects.filter(tenant_id=tenant_id)
        .order_by("seq", "pk")
        .values(*fields)
        .iterator(chunk_size=2000)
    )


def _event_problem(values: Mapping[str, Any], seq: int, prev: Mapping[str, Any] | None) -> str:
    if values["seq"] < seq:  # only once the owner dropped the unique constraint
        return f"seq {values['seq']} appears twice: an event was inserted into the chain"
    if values["seq"] != seq:
        missing = f"{seq}" if values["seq"] == seq + 1 else f"{seq}..{values['seq'] - 1}"
        return f"seq {missing} missing before it: events were deleted"
    if values["prev_hash"] != (prev["hash"] if prev else ""):
        return "prev_hash does not match the previous event's hash: the chain was re-linked"
    if event_hash(values) != values["hash"]:
        return "stored hash does not match the row: the event was edited"
    if prev and values["at"] < prev["at"]:
        return f"at {values['at'].isoformat()} is earlier than seq {prev['seq']}'s: back-dated"
    return ""


def verify_chain(tenant_id: str, expected: Iterable[tuple[int, str]] = ()) -> ChainReport:
    """Walk one chain in seq order and stop at the first broken link.

    Besides each link, the chain must contain every head recorded in AuditHead and every head
    published earlier (`expected`), and must not run past the last recorded head (an event
    inserted outside `reviews.audit.append`).
    """
    heads = _stream(AuditHead, tenant_id, ("seq", "hash"))
    # Walk the heads beside the events, both in seq order: neither is held in memory whole.
    merged = heapq.merge(sorted(expected), ((h["seq"], h["hash"]) for h in heads))
    wanted = (head for head, _ in groupby(merged))
    head = next(wanted, None)
    last_recorded = 0
    prev: dict[str, Any] | None = None
    count = 0

    def broken(values: Mapping[str, Any] | None, problem: str, seq: int = 0) -> ChainReport:
        return ChainReport(
            tenant_id,
            count,
            prev["seq"] if prev else 0,
            prev["hash"] if prev else "",
            values["id"] if values else None,
            values["seq"] if values else seq,
            problem,
        )

    for values in _stream(AuditEvent, tenant_id, (*HASHED_FIELDS, "hash")):
        problem = _event_problem(values, (prev["seq"] if prev else 0) + 1, prev)
        if problem:
            return broken(values, problem)
        while head is not None and head[0] <= values["seq"]:
            if head[0] < values["seq"] or head[1] != values["hash"]:
                return broken(
                    values,
                    f"the chain's head at seq {head[0]} was {head[1][:16]}…, this is "
                    f"{values['hash'][:16]}…: the chain was truncated and rebuilt",
                )
            last_recorded = head[0]
            head = next(wanted, None)
        prev = values
        count += 1
    if head is not None:
        return broken(
            None,
            f"the chain ends at seq {prev['seq'] if prev else 0} but its head was recorded "
            f"at seq {head[0]}: "
            "events at its end were deleted (or the chain truncated)",
            head[0],
        )
    if prev is not None and prev["seq"] > last_recorded:
        return broken(
            prev,
            f"seq {last_recorded + 1}..{prev['seq']} were appended without recording a head: "
            "inserted outside spreview's audit writer",
        )
    return ChainReport(tenant_id, count, prev["seq"] if prev else 0, prev["hash"] if prev else "")


def chain_ids() -> list[str]:
    """Every chain with an event or a recorded head (a chain emptied entirely still counts)."""
    ids = set(AuditEvent.objects.values_list("tenant_id", flat=True).distinct())
    ids |= set(AuditHead.objects.values_list("tenant_id", flat=True).distinct())
    return sorted(ids)


def verify_chains(
    expected: Mapping[str, Iterable[tuple[int, str]]] | None = None,
) -> list[ChainReport]:
    expected = expected or {}
    return [
        verify_chain(tenant_id, expected.get(tenant_id, ()))
        for tenant_id in sorted({*chain_ids(), *expected})
    ]
