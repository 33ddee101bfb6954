"""The practice in the admin (a single row, never added twice, never deleted), and django-q2's
admin pages locked to the project's own task functions."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy
from django_q import admin as q_admin
from django_q.models import Failure, Schedule, Success

from . import q_guard
from .models import Practice, StaffPreference


@admin.register(Practice)
class PracticeAdmin(admin.ModelAdmin):
    list_display = ("name", "city", "phone", "email", "time_zone")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = (
        (None, {"fields": ("name",)}),
        (gettext_lazy("Adresse"), {"fields": ("address1", "address2", ("postcode", "city"))}),
        (gettext_lazy("Contact"), {"fields": (("phone", "email"), "website")}),
        (
            "SMS",
            {
                "fields": (
                    ("sms_sender_name", "sms_warn_over_160"),
                    ("sms_default_patient", "sms_default_civil_guardian", "sms_default_financial_guardian"),
                    ("quiet_start", "quiet_end"),
                    "purpose_period_days",
                )
            },
        ),
        (gettext_lazy("Réglages"), {"fields": ("time_zone", "language")}),
    )

    def has_add_permission(self, request) -> bool:
        # Practice.save() always writes row 1: a second "add" would overwrite the first.
        return super().has_add_permission(request) and not Practice.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(StaffPreference)
class StaffPreferenceAdmin(admin.ModelAdmin):
    """Each user's interface language (each user also changes their own from the user menu)."""

    list_display = ("user", "language")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)


# django-q2's own admin pages, locked down: its schedule form would otherwise accept any
# importable function, which the cluster then runs (see practice.q_guard).
class ScheduleForm(forms.ModelForm):
    class Meta:
        model = Schedule
        fields = [
            "name", "func", "hook", "args", "kwargs", "schedule_type", "minutes", "repeats", "next_run",
            "cron", "cluster", "intended_date_kwarg",
        ]

    def clean(self):
        cleaned = super().clean()
        try:
            q_guard.validate_schedule(func=cleaned.get("func"), hook=cleaned.get("hook"))
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                self.add_error(field, messages)
        return cleaned


# A finished or failed task sent back to the queue runs again: only for those who may change
# tasks (no role may; a superuser can), and still through q_guard's check when queued.
resubmit = admin.action(
    permissions=["change"], description=q_admin.resubmit_task.short_description
)(q_admin.resubmit_task)


class GuardedScheduleAdmin(q_admin.ScheduleAdmin):
    form = ScheduleForm


class GuardedTaskAdmin(q_admin.TaskAdmin):
    actions = [resubmit]


class GuardedFailAdmin(q_admin.FailAdmin):
    actions = [resubmit]


for _model, _model_admin in ((Schedule, GuardedScheduleAdmin), (Success, GuardedTaskAdmin), (Failure, GuardedFailAdmin)):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, _model_admin)


# Staff accounts and roles. The Administrateur (a practice's manager, not a superuser) manages
# them, but may not cross the lines issue 13 drew: it cannot make anyone a superuser, give a
# permission outside the roles, touch the superuser's account (password, deletion), nor give a
# role back the django-q write permissions q_guard took from every role.


def _grantable(permissions):
    """``permissions`` without the django-q ones no role may hold (see roles.role_permissions)."""
    return permissions.exclude(
        Q(content_type__app_label="django_q") & ~Q(codename__startswith="view_")
    )


class PermissionChoicesMixin:
    def formfield_for_manytomany(self, db_field, request=None, **kwargs):
        formfield = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name in {"permissions", "user_permissions"} and formfield is not None:
            formfield.queryset = _grantable(formfield.queryset)
        return formfield


class StaffUserAdmin(PermissionChoicesMixin, UserAdmin):
    def get_readonly_fields(self, request, obj=None):
        readonly = tuple(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly += ("is_superuser", "user_permissions")
        return readonly

    def _reaches(self, request, obj) -> bool:
        return obj is None or request.user.is_superuser or not obj.is_superuser

    def has_change_permission(self, request, obj=None):
        # Also guards the admin's password form for that account (user_change_password).
        return self._reaches(request, obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._reaches(request, obj) and super().has_delete_permission(request, obj)


class RoleAdmin(PermissionChoicesMixin, GroupAdmin):
    pass


for _model, _model_admin in ((get_user_model(), StaffUserAdmin), (Group, RoleAdmin)):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, _model_admin)
