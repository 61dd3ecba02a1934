from django.apps import AppConfig


class DemoConfig(AppConfig):
    """`manage.py demo`, `simulator` and the sample campaign: development only, never installed
    by the production install or the image (config/settings.py adds it when importable)."""

    name = "demo"
    verbose_name = "Demo (development only)"
