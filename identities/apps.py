from django.apps import AppConfig


class IdentitiesConfig(AppConfig):
    name = "identities"
    verbose_name = "Tenant mirror"

    def ready(self) -> None:
        from . import session_guard

        session_guard.connect_signals()
