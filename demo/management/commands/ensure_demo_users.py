"""`manage.py ensure_demo_users`: the demo's break-glass password accounts (Entra sign-in aside)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from accounts.permissions import AUDITOR_GROUP

from .demo import DEMO_USERS


class Command(BaseCommand):
    help = "Create the demo admin and auditor accounts (refused when DEBUG is off)."

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("demo users with known passwords are only made when DEBUG is on")
        User = get_user_model()
        for username, password, is_staff in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(password)
            user.is_staff = is_staff
            user.is_superuser = is_staff
            user.save()
            if not is_staff:
                auditors, _ = Group.objects.get_or_create(name=AUDITOR_GROUP)
                user.groups.add(auditors)
