"""The programmeur in the Django admin.

Treatments and event messages are configuration: editable, but saved through the services so
that a treatment keeps exactly one django-q2 schedule. Runs, tracked messages and the heartbeat
are the record of what happened: read-only and never deleted here, because a run deleted by hand
would let the same treatment run again for the same date and send its messages twice.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy

from . import services
from .models import EventMessageSetting, Heartbeat, TrackedMessage, Treatment, TreatmentRun


class RecordAdmin(admin.ModelAdmin):
    """What the programmeur wrote: to read, not to change nor delete."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Treatment)
class TreatmentAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "kind",
        "active",
        "hour",
        "periodicity",
        "period",
        "channels",
        "start_date",
        "run_list",
    ]
    list_filter = ["active", "kind", "periodicity"]
    search_fields = ["title"]
    list_select_related = ["sms_template", "email_template"]
    filter_horizontal = ["staff_recipients", "verifiers"]
    # The criteria are checked by the programmeur's form, criterion by criterion; raw JSON typed
    # here would skip that check, so it is shown, not edited.
    readonly_fields = ["criteria", "schedule", "created_at", "updated_at"]
    fieldsets = (
        (None, {"fields": (("kind", "title"), "active")}),
        (
            gettext_lazy("Quand"),
            {
                "fields": (
                    ("start_date", "hour"),
                    ("periodicity", "weekdays", "month_day", "skip_holidays"),
                    ("date_mode", "offset_from", "offset_to", "working_days"),
                    ("fixed_from", "fixed_to"),
                )
            },
        ),
        (gettext_lazy("Critères"), {"fields": ("criteria",), "description": gettext_lazy("Modifiables depuis la page du programmeur.")}),
        (
            gettext_lazy("Envoi"),
            {
                "fields": (
                    ("send_sms", "sms_template"),
                    ("send_email", "email_template", "email_when_no_mobile"),
                    ("send_letter", "letter_template"),
                    "make_list",
                    "group_family",
                    "staff_recipients",
                )
            },
        ),
        (gettext_lazy("Vérification"), {"fields": ("verifiers", "verifiers_always")}),
        (gettext_lazy("Suivi"), {"fields": ("schedule", ("created_at", "updated_at"))}),
    )

    @admin.display(description=gettext_lazy("période"))
    def period(self, obj: Treatment) -> str:
        return obj.period_label

    @admin.display(description=gettext_lazy("modes"))
    def channels(self, obj: Treatment) -> str:
        return obj.channels_label

    @admin.display(description=gettext_lazy("exécutions"))
    def run_list(self, obj: Treatment):
        # A link rather than an inline: a daily treatment has hundreds of runs after a year.
        url = reverse("admin:scheduler_treatmentrun_changelist")
        return format_html('<a href="{}?treatment__id__exact={}">{}</a>', url, obj.pk, gettext_lazy("Exécutions"))

    def save_model(self, request, obj, form, change):
        # Through the service: validated, and its django-q2 schedule created, updated or removed.
        services.treatment_save(treatment=obj)

    def delete_model(self, request, obj):
        services.treatment_delete(treatment=obj)

    def delete_queryset(self, request, queryset):
        for treatment in queryset:
            services.treatment_delete(treatment=treatment)


@admin.register(TreatmentRun)
class TreatmentRunAdmin(RecordAdmin):
    list_display = [
        "run_date",
        "treatment",
        "status",
        "trigger",
        "targeted",
        "sent",
        "failed",
        "skipped",
        "waiting",
        "finished_at",
        "trace",
    ]
    list_filter = ["status", "trigger", "treatment"]
    search_fields = ["treatment__title"]
    date_hierarchy = "run_date"
    list_select_related = ["treatment"]
    raw_id_fields = ["requested_by"]

    @admin.display(description=gettext_lazy("trace"))
    def trace(self, obj: TreatmentRun) -> str:
        return format_html('<a href="{}">{}</a>', reverse("scheduler:run", args=[obj.pk]), gettext_lazy("Voir la trace"))


@admin.register(TrackedMessage)
class TrackedMessageAdmin(RecordAdmin):
    list_display = ["message", "purpose", "run", "appointment_start"]
    list_filter = ["purpose"]
    search_fields = ["message__to", "message__recipient_name", "run__treatment__title"]
    list_select_related = ["message", "run__treatment"]
    raw_id_fields = ["message", "run"]


@admin.register(EventMessageSetting)
class EventMessageSettingAdmin(admin.ModelAdmin):
    list_display = ["event", "nature", "channel", "template_label", "active"]
    list_filter = ["event", "channel", "active", "nature"]
    search_fields = ["nature__code", "nature__label", "sms_template__title", "email_template__label"]
    list_select_related = ["nature", "sms_template", "email_template"]

    @admin.display(description=gettext_lazy("modèle"))
    def template_label(self, obj: EventMessageSetting) -> str:
        return str(obj.template or "")


@admin.register(Heartbeat)
class HeartbeatAdmin(RecordAdmin):
    list_display = ["host", "pid", "beat_at"]
