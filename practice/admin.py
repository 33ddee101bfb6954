"""The practice in the admin: a single row, never added twice, never deleted."""

from __future__ import annotations

from django.contrib import admin
from django.db import models

from .models import Practice


@admin.register(Practice)
class PracticeAdmin(admin.ModelAdmin):
    list_display = ("name", "city", "phone", "email", "time_zone")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = (
        (None, {"fields": ("name",)}),
        ("Adresse", {"fields": ("address1", "address2", ("postcode", "city"))}),
        ("Contact", {"fields": (("phone", "email"), "website")}),
        (
            "SMS",
            {
                "fields": (
                    ("sms_sender_name", "sms_warn_over_160"),
                    ("sms_default_patient", "sms_default_civil_guardian", "sms_default_financial_guardian"),
                    ("quiet_start", "quiet_end"),
                )
            },
        ),
        ("Réglages", {"fields": ("time_zone",)}),
    )

    def has_add_permission(self, request) -> bool:
        # Practice.save() always writes row 1: a second "add" would overwrite the first.
        return super().has_add_permission(request) and not Practice.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
