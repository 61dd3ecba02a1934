import sys

from django.apps import AppConfig

# gunicorn's arbiter stops (instead of restarting workers forever) when a worker exits with 3.
EXIT_BAD_CONFIGURATION = 3


class IdentitiesConfig(AppConfig):
    name = "identities"
    verbose_name = "Tenant mirror"

    def ready(self) -> None:
        # A tier file nobody can read would mean reviews ranked by tiers nobody chose: every
        # process (web, worker, beat, manage.py) refuses to start, with one line, no traceback.
        from .tiers import TierFileError, classification

        try:
            classification()
        except TierFileError as error:
            sys.stderr.write(f"{error}\n")
            raise SystemExit(EXIT_BAD_CONFIGURATION) from None
