"""Forms of the review pages: the campaign an admin schedules, and one reviewer's decision.

The forms validate what a person typed; the rules of the review itself (is the cycle still open,
is a justification required) stay in `reviews.services`, which the views call afterwards.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone

from accounts.people import person_label
from identities.bidi import isolate_text
from identities.models import RoleDefinition, ServicePrincipal, Tenant

from . import schedule
from .models import Campaign, Decision, Frequency
from .privileges import definition_choice_label
from .services import CAMPAIGN_FIELDS, JUSTIFICATION_MAX

# A start a few minutes in the past is still "now": the admin took a while to fill the form.
START_SLACK = timedelta(minutes=10)
MAX_DAYS = 365
TEXT_MAX = 2000


class ReviewerChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        label = person_label(obj)
        if obj.email and obj.email != label:
            return f"{isolate_text(label)} ({isolate_text(obj.email)})"
        return isolate_text(label)


class RoleChoiceField(forms.ModelMultipleChoiceField):
    """Directory roles by name, application permissions by value and API."""

    def label_from_instance(self, obj: RoleDefinition) -> str:
        return isolate_text(definition_choice_label(obj))


def parse_reminder_days(text: str) -> list[int]:
    """ "7, 3,1" → [7, 3, 1]; raises ValidationError on anything that is not a whole number."""
    days: set[int] = set()
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            days.add(int(part))
        except ValueError:
            raise forms.ValidationError(
                "Reminders are whole numbers of days before the end, separated by commas "
                f"(for example 7, 3, 1); {part!r} is not one."
            ) from None
    return sorted(days, reverse=True)


class CampaignForm(forms.ModelForm):
    start_now = forms.BooleanField(
        required=False,
        label="Start now",
        help_text="Ignore the start date: the first cycle starts as soon as the campaign is saved.",
    )
    principal_types = forms.MultipleChoiceField(
        choices=ServicePrincipal.Type.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Service-principal types",
        help_text="None ticked means every type.",
    )
    privileges = forms.ChoiceField(
        choices=Campaign.Privileges.choices,
        required=False,
        widget=forms.RadioSelect,
        label="Privileges",
        help_text="Application permissions are reviewed whatever the assignments setting says.",
    )
    max_tier = forms.TypedChoiceField(
        choices=[("", "All tiers"), *((str(v), label) for v, label in Campaign.MaxTier.choices)],
        coerce=int,
        empty_value=None,
        required=False,
        widget=forms.RadioSelect,
        label="Tier",
        help_text="With a tier chosen, privileges the classification does not know are left out.",
    )
    reminder_days = forms.CharField(
        required=False,
        max_length=200,
        label="Reminders (days before the end)",
        help_text="Comma-separated, for example 7, 3, 1. Leave empty for no reminders.",
    )
    duration_days = forms.IntegerField(min_value=1, max_value=MAX_DAYS, label="Duration (days)")
    lookback_days = forms.IntegerField(
        min_value=1,
        max_value=MAX_DAYS,
        label="Recommendation look-back (days)",
        help_text="No sign-in within this many days recommends revoking.",
    )
    end_after_cycles = forms.IntegerField(
        min_value=1, max_value=1000, required=False, label="Number of cycles"
    )
    description = forms.CharField(
        required=False, max_length=TEXT_MAX, widget=forms.Textarea(attrs={"rows": 3})
    )
    invitation_text = forms.CharField(
        required=False,
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Extra text for the invitation email",
    )

    class Meta:
        model = Campaign
        # The campaign's settings as the services snapshot them, and its scope and reviewers.
        fields = (*CAMPAIGN_FIELDS, "roles", "reviewers")
        field_classes = {"roles": RoleChoiceField, "reviewers": ReviewerChoiceField}
        widgets = {
            "role_scope": forms.RadioSelect,
            "kinds": forms.RadioSelect,
            "reviewer_mode": forms.RadioSelect,
            "roles": forms.CheckboxSelectMultiple,
            "reviewers": forms.SelectMultiple(attrs={"size": 8}),
            "start_at": forms.DateTimeInput(
                attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
            ),
            "end_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "default_decision": forms.RadioSelect,
            "justification": forms.RadioSelect,
        }
        labels = {
            "role_scope": "Which ones",
            "kinds": "Assignments",
            "reviewer_mode": "Reviewers",
            "reviewers": "Named or fallback reviewers",
            "start_at": "First start",
            "end_mode": "End",
            "end_date": "End date",
            "default_decision": "If reviewers don't respond",
            "auto_apply": "Apply the results automatically when a cycle ends",
            "justification": "Justification",
        }

    def __init__(self, *args: Any, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        self.creating = self.instance.pk is None
        # Roles first, then permissions grouped by API.
        roles: QuerySet[RoleDefinition] = RoleDefinition.objects.filter(
            tenant=tenant, is_privileged=True
        ).order_by("-privilege_type", "resource_name", "display_name", "pk")
        self.fields["roles"].queryset = roles
        self.fields["roles"].required = False
        self.fields["roles"].label = "Chosen roles and permissions"
        self.fields["reviewers"].queryset = (
            get_user_model()
            .objects.filter(is_active=True)
            .select_related("entra")
            .order_by("username")
        )
        self.fields["reviewers"].required = False
        self.fields["start_at"].input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"]
        self.fields["start_at"].help_text = f"Time zone: {timezone.get_current_timezone_name()}."
        if self.creating:
            if not self.initial.get("start_at"):
                # A few minutes ahead, so that submitting the untouched form is never "the past".
                soon = timezone.localtime() + timedelta(minutes=5)
                self.initial["start_at"] = soon.replace(second=0, microsecond=0)
        elif self.instance.cycles_started:
            # Later starts are counted from the first one: moving it would reshuffle them all.
            self.fields["start_at"].disabled = True
            self.fields["start_at"].help_text = "Fixed once the first cycle has started."
            del self.fields["start_now"]
        if not self.is_bound:
            tier = self.instance.max_tier
            self.initial["max_tier"] = "" if tier is None else tier
            self.initial["privileges"] = self.instance.privileges or Campaign.Privileges.BOTH
        self.initial["reminder_days"] = ", ".join(
            str(d) for d in (self.instance.reminder_days or [])
        )

    def clean_reminder_days(self) -> list[int]:
        return parse_reminder_days(self.cleaned_data.get("reminder_days") or "")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        now = timezone.now()
        if (
            data.get("start_now")
            and "start_at" in self.fields
            and not self.fields["start_at"].disabled
        ):
            data["start_at"] = now
            self.errors.pop("start_at", None)
        start = data.get("start_at")
        if start is not None and not self.fields["start_at"].disabled and start < now - START_SLACK:
            changed = self.creating or start != self.instance.start_at
            if changed:
                self.add_error(
                    "start_at",
                    "The first start cannot be in the past; tick “Start now” to start at once.",
                )

        data["privileges"] = data.get("privileges") or Campaign.Privileges.BOTH
        if data.get("role_scope") == Campaign.RoleScope.SELECTED and not data.get("roles"):
            self.add_error(
                "roles", "Choose at least one role or permission, or review all of them."
            )
        elif data.get("role_scope") == Campaign.RoleScope.SELECTED:
            wanted = {
                Campaign.Privileges.ROLES: {"role"},
                Campaign.Privileges.PERMISSIONS: {"app_permission"},
            }.get(data["privileges"], {"role", "app_permission"})
            if not any(r.privilege_type in wanted for r in data["roles"]):
                self.add_error(
                    "roles",
                    "None of the chosen privileges is of the kind this campaign reviews "
                    f"({Campaign.Privileges(data['privileges']).label.lower()}).",
                )
        if data.get("role_scope") != Campaign.RoleScope.SELECTED:
            data["roles"] = RoleDefinition.objects.none()

        if not data.get("reviewers"):
            if data.get("reviewer_mode") == Campaign.ReviewerMode.NAMED:
                self.add_error("reviewers", "Choose at least one reviewer.")
            elif data.get("reviewer_mode") == Campaign.ReviewerMode.OWNERS:
                self.add_error(
                    "reviewers",
                    "Choose at least one fallback reviewer: service principals without a user "
                    "owner are reviewed by them.",
                )

        duration = data.get("duration_days")
        frequency = data.get("frequency")
        if duration is not None and frequency and frequency != Frequency.ONCE:
            period = schedule.shortest_period_days(frequency)
            if period is not None and duration >= period:
                self.add_error(
                    "duration_days",
                    f"A {Frequency(frequency).label.lower()} review must last fewer than "
                    f"{period} days, so that each cycle ends before the next one starts.",
                )

        end_mode = data.get("end_mode")
        if end_mode == Campaign.EndMode.ON_DATE:
            end_date = data.get("end_date")
            if end_date is None:
                if "end_date" not in self.errors:
                    self.add_error("end_date", "Give the date after which no cycle starts.")
            elif start is not None and end_date <= timezone.localdate(start):
                self.add_error("end_date", "The end date must be after the first start.")
        else:
            data["end_date"] = None
        if end_mode == Campaign.EndMode.AFTER_CYCLES:
            if data.get("end_after_cycles") is None and "end_after_cycles" not in self.errors:
                self.add_error("end_after_cycles", "Give the number of cycles (at least 1).")
        else:
            data["end_after_cycles"] = None

        reminders = data.get("reminder_days")
        if reminders and duration is not None:
            bad = [d for d in reminders if d < 1 or d > duration - 1]
            if bad:
                if duration < 2:
                    message = "A review that lasts one day has no room for reminders."
                else:
                    message = (
                        f"Each reminder must be between 1 and {duration - 1} days before the end "
                        f"of a {duration}-day review; {', '.join(map(str, bad))} is not."
                    )
                self.add_error("reminder_days", message)
        return data

    def changes(self) -> dict[str, Any]:
        """The edited settings, as `services.update_campaign` takes them."""
        return {
            name: self.cleaned_data[name] for name in CAMPAIGN_FIELDS if name in self.cleaned_data
        }


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[
            (Decision.APPROVE, "Approve"),
            (Decision.REVOKE, "Revoke"),
            (Decision.DONT_KNOW, "Don't know"),
        ],
        error_messages={
            "required": "Choose approve, revoke or don't know.",
            "invalid_choice": "Choose approve, revoke or don't know.",
        },
    )
    justification = forms.CharField(
        required=False,
        strip=True,
        max_length=JUSTIFICATION_MAX,
        error_messages={
            "max_length": f"The justification is too long (at most {JUSTIFICATION_MAX} characters)."
        },
    )

    def first_error(self) -> str:
        for errors in self.errors.values():
            for error in errors:
                return str(error)
        return "The decision was not understood."
