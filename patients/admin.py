"""Django admin for the practice's people and appointments.

Built for the benchmark scale (100,000 patients, 1,000,000 appointments): every foreign key to a
big table is an autocomplete (never a <select> of every patient), changelists fetch their related
rows up front (``list_select_related``), the patient search goes through the same indexed selector
as the staff pages, and the appointment list does not count the whole table on every page.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy

from . import phones, selectors
from .models import (
    ADULT_AGE,
    Appointment,
    AppointmentEvent,
    Chair,
    Correspondent,
    CorrespondentLink,
    Family,
    Guardian,
    Nature,
    Patient,
    PatientCorrespondent,
    PatientImage,
    Practitioner,
    SearchSelection,
    SearchSelectionRow,
    normalize_search,
)

CONTACT_FIELDSET = (
    "Coordonnées",
    {"fields": (("address1", "address2"), ("postcode", "city", "country"), "email", ("phone", "mobile"))},
)
CONSENT_FIELDSET = (gettext_lazy("Consentements"), {"fields": (("sms_consent", "email_consent"),)})


def _local(value: dt.datetime) -> str:
    local = timezone.localtime(value)
    return f"{local:%d/%m/%Y} {local:%H}h{local:%M}"


class PhoneColumnsMixin:
    """Phone columns shown the French way (06.84.28.55.60), as staff read them."""

    @admin.display(description=gettext_lazy("portable"), ordering="mobile")
    def mobile_display(self, obj) -> str:
        return phones.format_fr(obj.mobile)

    @admin.display(description=gettext_lazy("téléphone"), ordering="phone")
    def phone_display(self, obj) -> str:
        return phones.format_fr(obj.phone)


class HasMobileFilter(admin.SimpleListFilter):
    title = "portable"
    parameter_name = "portable"

    def lookups(self, request, model_admin):
        return [("oui", "Renseigné"), ("non", "Absent")]

    def queryset(self, request, queryset):
        if self.value() == "oui":
            return queryset.exclude(mobile="")
        if self.value() == "non":
            return queryset.filter(mobile="")
        return queryset


class MinorFilter(admin.SimpleListFilter):
    """Minors by birth date (the type stored on the file may be empty: it is then derived)."""

    title = "âge"
    parameter_name = "age"

    def lookups(self, request, model_admin):
        return [("mineur", "Mineurs"), ("majeur", "Majeurs")]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        try:
            threshold = today.replace(year=today.year - ADULT_AGE)
        except ValueError:  # 29 February
            threshold = today.replace(year=today.year - ADULT_AGE, day=28)
        if self.value() == "mineur":
            return queryset.filter(birth_date__gt=threshold)
        if self.value() == "majeur":
            return queryset.filter(birth_date__lte=threshold)
        return queryset


# ----------------------------------------------------------------------------------------------
# Small reference tables
# ----------------------------------------------------------------------------------------------


@admin.register(Practitioner)
class PractitionerAdmin(PhoneColumnsMixin, admin.ModelAdmin):
    list_display = ("display_name", "initials", "email", "mobile_display", "user", "active", "color")
    list_filter = ("active",)
    search_fields = ("last_name", "first_name", "initials", "email")
    list_select_related = ("user",)
    fields = (
        ("civility", "last_name", "first_name"),
        ("initials", "color", "active"),
        "email",
        "mobile",
        "user",
    )

    @admin.display(description=gettext_lazy("praticien"), ordering="last_name")
    def display_name(self, obj: Practitioner) -> str:
        return obj.display_name


@admin.register(Chair)
class ChairAdmin(admin.ModelAdmin):
    list_display = ("code", "label", "active")
    list_editable = ("label", "active")
    list_filter = ("active",)
    search_fields = ("code", "label")


@admin.register(Nature)
class NatureAdmin(admin.ModelAdmin):
    list_display = ("code", "label", "default_duration", "color", "cancel_on_reply")
    list_editable = ("label", "default_duration", "cancel_on_reply")
    search_fields = ("code", "label")


# ----------------------------------------------------------------------------------------------
# Patients, families, guardians
# ----------------------------------------------------------------------------------------------


class PatientCorrespondentInline(admin.TabularInline):
    model = PatientCorrespondent
    extra = 0
    autocomplete_fields = ("correspondent",)
    verbose_name_plural = "correspondants"


class PatientImageInline(admin.TabularInline):
    model = PatientImage
    extra = 0
    fields = ("file", "image_type", "subtype", "stage", "taken_on", "label")


class AppointmentInline(admin.TabularInline):
    """The patient's appointments, read-only: they are changed in the planning or on their own
    admin page (the change link)."""

    model = Appointment
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    fields = ("start_display", "practitioner", "chair", "nature", "duration", "state", "cancelled_by")
    readonly_fields = fields
    ordering = ("-start",)
    verbose_name_plural = "rendez-vous"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("practitioner", "chair", "nature")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=gettext_lazy("début"))
    def start_display(self, obj: Appointment) -> str:
        return _local(obj.start)


@admin.register(Patient)
class PatientAdmin(PhoneColumnsMixin, admin.ModelAdmin):
    list_display = (
        "file_number",
        "display_name",
        "birth_date",
        "mobile_display",
        "email",
        "sms_consent",
        "email_consent",
        "practitioner",
        "file_status",
        "civil_guardian",
    )
    list_display_links = ("file_number", "display_name")
    list_filter = (
        "file_status",
        MinorFilter,
        HasMobileFilter,
        "sms_consent",
        "email_consent",
        "sex",
        "practitioner",
    )
    list_select_related = ("practitioner", "civil_guardian")
    # The real search is get_search_results (the indexed selector); these fields make the admin's
    # autocomplete views for patients available and say what is searched.
    search_fields = ("search_key", "file_number", "mobile", "phone")
    search_help_text = gettext_lazy(
        "Nom ou prénom (début, dans les deux ordres, sans les accents), N° de dossier ou numéro de téléphone.")
    autocomplete_fields = ("family", "civil_guardian", "financial_guardian")
    readonly_fields = ("created_at", "updated_at")
    list_per_page = 50
    inlines = (PatientCorrespondentInline, PatientImageInline, AppointmentInline)
    fieldsets = (
        (
            "Identité",
            {
                "fields": (
                    ("file_number", "civility"),
                    ("last_name", "first_name", "second_first_name"),
                    ("birth_date", "sex", "patient_type"),
                )
            },
        ),
        (gettext_lazy("Dossier"), {"fields": (("file_status", "practitioner"), "remark", ("created_at", "updated_at"))}),
        CONTACT_FIELDSET,
        CONSENT_FIELDSET,
        (gettext_lazy("Famille et responsables"), {"fields": ("family", ("civil_guardian", "financial_guardian"))}),
    )

    @admin.display(description=gettext_lazy("patient"), ordering="last_name")
    def display_name(self, obj: Patient) -> str:
        return obj.display_name

    def get_search_results(self, request, queryset, search_term):
        """Search the way the staff pages do (selectors.patient_search: file number, phone in any
        usual format, start of the name without accents), which the indexes serve at 100,000 rows."""
        if not search_term.strip():
            return queryset, False
        matches = selectors.patient_search(query=search_term).values("pk")
        return queryset.filter(pk__in=matches), False


@admin.register(Family)
class FamilyAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name",)
    readonly_fields = ("created_at", "members_list")
    fields = ("name", "members_list", "created_at")
    show_full_result_count = False

    @admin.display(description=gettext_lazy("membres"))
    def members_list(self, obj: Family):
        members = obj.members.order_by("birth_date", "first_name") if obj.pk else []
        links = [
            format_html(
                '<a href="{}">{}</a>', reverse("admin:patients_patient_change", args=[p.pk]), p.display_name
            )
            for p in members
        ]
        return format_html("<br>".join(["{}"] * len(links)), *links) if links else "—"


class CivilWardInline(admin.TabularInline):
    """The patients this person is the civil guardian of, read-only (changed on the patient)."""

    model = Patient
    fk_name = "civil_guardian"
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    fields = ("file_number", "last_name", "first_name", "birth_date")
    readonly_fields = fields
    verbose_name = gettext_lazy("patient dont la personne est responsable civil")
    verbose_name_plural = gettext_lazy("patients dont la personne est responsable civil")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Guardian)
class GuardianAdmin(PhoneColumnsMixin, admin.ModelAdmin):
    list_display = ("display_name", "mobile_display", "email", "city", "sms_consent", "email_consent")
    list_filter = (HasMobileFilter, "sms_consent", "email_consent")
    search_fields = ("last_name", "first_name", "email", "mobile")
    show_full_result_count = False
    inlines = (CivilWardInline,)
    fieldsets = (
        (
            "Identité",
            {
                "fields": (
                    ("civility", "last_name", "first_name"),
                    ("maiden_name", "birth_date"),
                    "profession",
                )
            },
        ),
        CONTACT_FIELDSET,
        CONSENT_FIELDSET,
    )

    @admin.display(description=gettext_lazy("responsable"), ordering="last_name")
    def display_name(self, obj: Guardian) -> str:
        return obj.display_name

    def get_search_results(self, request, queryset, search_term):
        # A phone number typed the French way (06 84 28 55 60) matches the stored E.164 form.
        phone = phones.normalize(search_term) if sum(c.isdigit() for c in search_term) >= 6 else None
        if phone:
            return queryset.filter(Q(mobile=phone) | Q(phone=phone)), False
        return super().get_search_results(request, queryset, search_term)


# ----------------------------------------------------------------------------------------------
# Correspondents
# ----------------------------------------------------------------------------------------------


class CorrespondentLinkInline(admin.TabularInline):
    model = CorrespondentLink
    extra = 0
    verbose_name_plural = gettext_lazy("relations avec les praticiens (ami, confrère…)")


@admin.register(Correspondent)
class CorrespondentAdmin(PhoneColumnsMixin, admin.ModelAdmin):
    list_display = ("display_name", "specialty", "city", "email", "phone_display")
    list_filter = ("specialty",)
    search_fields = ("last_name", "first_name", "specialty", "city", "email")
    inlines = (CorrespondentLinkInline,)
    fieldsets = (
        (gettext_lazy("Identité"), {"fields": (("civility", "last_name", "first_name"), "specialty")}),
        CONTACT_FIELDSET,
        CONSENT_FIELDSET,
    )

    @admin.display(description=gettext_lazy("correspondant"), ordering="last_name")
    def display_name(self, obj: Correspondent) -> str:
        return obj.display_name


@admin.register(CorrespondentLink)
class CorrespondentLinkAdmin(admin.ModelAdmin):
    list_display = ("correspondent", "practitioner", "relationship")
    list_filter = ("relationship", "practitioner")
    list_select_related = ("correspondent", "practitioner")
    search_fields = ("correspondent__last_name", "correspondent__first_name")
    autocomplete_fields = ("correspondent",)


@admin.register(PatientCorrespondent)
class PatientCorrespondentAdmin(admin.ModelAdmin):
    list_display = ("patient", "correspondent", "role")
    list_filter = ("role",)
    list_select_related = ("patient", "correspondent")
    search_fields = ("patient__search_key", "correspondent__last_name")
    autocomplete_fields = ("patient", "correspondent")
    show_full_result_count = False

    def get_search_results(self, request, queryset, search_term):
        term = normalize_search(search_term)
        if not term:
            return queryset, False
        return (
            queryset.filter(
                Q(patient__search_key__startswith=term) | Q(correspondent__last_name__istartswith=term)
            ),
            False,
        )


# ----------------------------------------------------------------------------------------------
# Appointments and images
# ----------------------------------------------------------------------------------------------


class AppointmentEventInline(admin.TabularInline):
    """The history written by the patient's SMS answers: read only."""

    model = AppointmentEvent
    fields = ("at", "kind", "text")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(AppointmentEvent)
class AppointmentEventAdmin(admin.ModelAdmin):
    list_display = ("at", "kind", "appointment", "text")
    list_filter = ("kind",)
    raw_id_fields = ("appointment", "inbound")
    list_select_related = ("appointment__patient",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Appointment)
class AppointmentAdmin(admin.ModelAdmin):
    inlines = (AppointmentEventInline,)
    list_display = (
        "start_display",
        "who_link",
        "practitioner",
        "chair",
        "nature",
        "duration",
        "state",
        "cancelled_by",
        "urgent",
    )
    list_filter = (
        ("start", admin.DateFieldListFilter),
        "state",
        "cancelled_by",
        "practitioner",
        "chair",
        "nature",
        "urgent",
        "external",
    )
    list_select_related = ("patient", "practitioner", "chair", "nature")
    search_fields = ("patient__search_key",)
    search_help_text = gettext_lazy("Patient : début du nom, N° de dossier ou numéro de téléphone.")
    autocomplete_fields = ("patient",)
    ordering = ("-start",)
    list_per_page = 50
    # Counting a million rows on every page costs more than the page itself.
    show_full_result_count = False
    readonly_fields = ("created_at", "updated_at", "confirmed_at", "cancel_requested_at")
    fieldsets = (
        (None, {"fields": (("patient", "external", "external_name"),)}),
        (gettext_lazy("Rendez-vous"), {"fields": (("start", "duration"), ("practitioner", "chair", "nature"), "remark")}),
        (gettext_lazy("État"), {"fields": (("state", "cancelled_by"), ("urgent", "forced"), ("confirmed_at", "cancel_requested_at"),
                             ("created_at", "updated_at"))}),
    )

    @admin.display(description=gettext_lazy("début"), ordering="start")
    def start_display(self, obj: Appointment) -> str:
        return _local(obj.start)

    @admin.display(description=gettext_lazy("patient"), ordering="patient__last_name")
    def who_link(self, obj: Appointment):
        if obj.patient_id:
            url = reverse("admin:patients_patient_change", args=[obj.patient_id])
            return format_html('<a href="{}">{}</a>', url, obj.patient.display_name)
        return obj.external_name

    def get_search_results(self, request, queryset: QuerySet, search_term):
        """The appointments of the patients the staff search finds (name, file number, phone).
        A substring match on the external name would scan the million rows on every search:
        external appointments are found with the "externe" filter instead."""
        if not search_term.strip():
            return queryset, False
        return queryset.filter(patient__in=selectors.patient_search(query=search_term).values("pk")), False


@admin.register(PatientImage)
class PatientImageAdmin(admin.ModelAdmin):
    list_display = ("__str__", "patient", "image_type", "subtype", "stage", "taken_on", "label")
    list_filter = ("image_type", "stage", ("taken_on", admin.DateFieldListFilter))
    list_select_related = ("patient",)
    search_fields = ("patient__search_key", "label")
    autocomplete_fields = ("patient",)
    readonly_fields = ("uploaded_at",)

    def get_search_results(self, request, queryset, search_term):
        term = normalize_search(search_term)
        if not term:
            return queryset, False
        return queryset.filter(
            Q(patient__search_key__startswith=term) | Q(label__icontains=search_term)
        ), False


class _ReadOnly(admin.ModelAdmin):
    """Working data written by the pages: looked at (and deleted) here, never edited."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SearchSelection)
class SearchSelectionAdmin(_ReadOnly):
    """The selections of the search pages (purged a day after their last use)."""

    list_display = ("created_at", "user", "search", "all_rows", "total", "updated_at")
    list_filter = ("search",)
    list_select_related = ("user",)


@admin.register(SearchSelectionRow)
class SearchSelectionRowAdmin(_ReadOnly):
    list_display = ("selection", "row_id")
    raw_id_fields = ("selection",)
