"""The link from a Django user to the Entra user who signs in as them."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class EntraAccount(models.Model):
    """Links a Django user to an Entra user by object id (`oid`), never by name or email."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="entra"
    )
    tenant = models.ForeignKey(
        "identities.Tenant", on_delete=models.CASCADE, related_name="accounts"
    )
    object_id = models.CharField(max_length=64)
    user_principal_name = models.CharField(max_length=256, blank=True)
    mail = models.CharField(max_length=256, blank=True)
    display_name = models.CharField(max_length=256, blank=True)

    class Meta:
        # The table the model had in identities: moving the model moved no rows.
        db_table = "identities_entraaccount"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "object_id"], name="account_unique_oid")
        ]

    def __str__(self) -> str:
        return self.display_name or self.user_principal_name or self.object_id
