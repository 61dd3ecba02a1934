"""WSGI entry point for gunicorn."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from config.database import limit_web_statements  # noqa: E402  (needs settings configured)

# gunicorn and runserver both load this module; workers and management commands do not.
limit_web_statements()
