"""EntraAccount moved from identities to accounts without moving a row."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.models import EntraAccount

BEFORE = [("identities", "0004_sync_fencing"), ("accounts", None)]


def migrate(targets: list[tuple[str, str | None]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


def leaf_nodes() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_it_keeps_the_accounts_linked_before_the_move(django_user_model):
    head = leaf_nodes()
    try:
        old_apps = migrate(BEFORE).loader.project_state(BEFORE[:1]).apps
        old_account = old_apps.get_model("identities", "EntraAccount")
        tenant = old_apps.get_model("identities", "Tenant").objects.create(tenant_id="t-1")
        user = old_apps.get_model("auth", "User").objects.create(username="oid-ada")
        old_account.objects.create(
            user_id=user.pk, tenant_id=tenant.pk, object_id="oid-ada", display_name="Ada"
        )
    finally:
        migrate(head)

    account = EntraAccount.objects.select_related("user", "tenant").get()
    assert (account.object_id, account.display_name) == ("oid-ada", "Ada")
    assert account.user.username == "oid-ada"
    assert account.tenant.tenant_id == "t-1"
    assert django_user_model.objects.get(username="oid-ada").entra == account
