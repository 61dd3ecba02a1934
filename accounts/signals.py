"""Signals sign-in sends so that other apps can react without accounts importing them."""

from django.dispatch import Signal

# Sent inside the sign-in's transaction when a person's app roles changed what they may do:
# user (the Django user), changes (["+Admin", "-Auditor"]: each app role gained or lost).
roles_changed = Signal()
