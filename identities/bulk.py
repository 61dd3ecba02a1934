"""One-statement bulk upserts that also say which rows were new and which really changed.

The sync writes a Graph page with a single INSERT … ON CONFLICT DO UPDATE … RETURNING, so a
page costs one database round trip whether the rows are new, changed or untouched. Each row
carries the sync run's id: `first_seen_run = run` means the row was inserted by this run,
`changed_run = run` means an update altered a compared column. Works on PostgreSQL and on
SQLite ≥ 3.35 (the embedded demo).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db import models as m
from django.db.models import Model

# Fields whose Python values psycopg2 and sqlite3 take as they are: skipping Django's per-value
# preparation for them saves most of the CPU a page costs (a 1000-row page has ~30k values).
_PASSED_AS_IS = (m.CharField, m.TextField, m.BooleanField, m.IntegerField, m.ForeignKey)


def _preparer(field: m.Field, db: Any):
    if isinstance(field, _PASSED_AS_IS) and not field.choices:
        return None
    if isinstance(field, m.DateTimeField) and db.vendor == "postgresql":
        return None  # aware datetimes go to timestamptz unchanged
    return lambda value: field.get_db_prep_save(value, db)


def _null_safe_differs(left: str, right: str) -> str:
    if connection.vendor == "postgresql":
        return f"{left} IS DISTINCT FROM {right}"
    return f"{left} IS NOT {right}"


def upsert(
    model: type[Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict: Sequence[str],
    run_id: int,
    update: Sequence[str],
    compare: Sequence[str],
    keep_when_seen: Sequence[str] = (),
    returning: Sequence[str] = ("id",),
    mark_reappeared: bool = False,
) -> list[tuple[Any, ...]]:
    """Insert or update `rows` (dicts of field name → value, all with the same keys).

    On conflict only the `update` fields are overwritten (the rest are insert-only), and the
    row counts as changed when one of `compare` gets a different value. Fields in
    `keep_when_seen` keep their value when this run already wrote the row (so a second Graph
    listing of the same privilege only adds what the first did not say). Returns, per row,
    the `returning` fields followed by (created, changed) booleans. With
    `mark_reappeared`, a row that had `removed_at` set gets `reappeared_run = run`.
    """
    if not rows:
        return []
    meta = model._meta
    bookkeeping = ("first_seen_run", "last_seen_run", "changed_run")
    # Every concrete column is written on insert: fields a row leaves out take the model default.
    fields = [
        f for f in meta.concrete_fields if not f.primary_key and f.name not in bookkeeping
    ] + [meta.get_field(name) for name in bookkeeping]
    table = connection.ops.quote_name(meta.db_table)
    columns = [connection.ops.quote_name(f.column) for f in fields]
    column_of = {f.name: connection.ops.quote_name(f.column) for f in fields}
    defaults = {f.name: f.get_default() for f in fields[:-3] if f.name not in rows[0]}

    db = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: the proxy costs a lookup per use
    prepared = [(f.name, _preparer(f, db)) for f in fields[:-3]]
    params: list[Any] = []
    placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
    for row in rows:
        for name, prepare in prepared:
            value = row[name] if name in row else defaults[name]
            params.append(value if prepare is None else prepare(value))
        params.extend((run_id, run_id, run_id))

    seen = f"{table}.{column_of['last_seen_run']} = EXCLUDED.{column_of['last_seen_run']}"

    def final(name: str) -> str:
        col = column_of[name]
        if name in keep_when_seen:
            return f"CASE WHEN {seen} THEN {table}.{col} ELSE EXCLUDED.{col} END"
        return f"EXCLUDED.{col}"

    changed = " OR ".join(_null_safe_differs(f"{table}.{column_of[n]}", final(n)) for n in compare)
    assignments = [f"{column_of[name]} = {final(name)}" for name in update]
    assignments.append(
        f"{column_of['changed_run']} = CASE WHEN {changed or 'FALSE'} "
        f"THEN EXCLUDED.{column_of['changed_run']} ELSE {table}.{column_of['changed_run']} END"
    )
    assignments.append(f"{column_of['last_seen_run']} = EXCLUDED.{column_of['last_seen_run']}")
    if mark_reappeared:
        # SET expressions read the row as it was: removed before, listed again now.
        back, removed = column_of["reappeared_run"], column_of["removed_at"]
        assignments.append(
            f"{back} = CASE WHEN {table}.{removed} IS NOT NULL "
            f"THEN EXCLUDED.{column_of['last_seen_run']} ELSE {table}.{back} END"
        )
    returned = [f"{table}.{connection.ops.quote_name(meta.get_field(n).column)}" for n in returning]
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        + ", ".join([placeholders] * len(rows))
        + f" ON CONFLICT ({', '.join(column_of[n] for n in conflict)})"
        + f" DO UPDATE SET {', '.join(assignments)}"
        + f" RETURNING {', '.join(returned)},"
        f" {table}.{column_of['first_seen_run']} = %s, {table}.{column_of['changed_run']} = %s"
    )
    params.extend((run_id, run_id))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        result = cursor.fetchall()
    return [(*r[:-2], bool(r[-2]), bool(r[-1])) for r in result]


def record_sign_ins(
    model: type[Model], tenant_pk: int, run_id: int, pairs: list[tuple[str, datetime | None]]
) -> None:
    """One UPDATE … FROM (VALUES …) per page of sign-in activity."""
    if not pairs:
        return
    latest: dict[str, datetime | None] = {}
    for app_id, when in pairs:
        previous = latest.get(app_id)
        latest[app_id] = max(filter(None, (previous, when)), default=None)
    table = connection.ops.quote_name(model._meta.db_table)
    cast = "::timestamptz" if connection.vendor == "postgresql" else ""
    values = ", ".join([f"(%s, %s{cast})"] * len(latest))
    params: list[Any] = []
    for app_id, when in latest.items():
        params.extend((app_id, connection.ops.adapt_datetimefield_value(when)))
    sql = (
        f"UPDATE {table} SET last_sign_in_at = v.column2, sign_in_known = %s, sign_in_run = %s "
        f"FROM (VALUES {values}) AS v WHERE {table}.tenant_id = %s AND {table}.app_id = v.column1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [True, run_id, *params, tenant_pk])
