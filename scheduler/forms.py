"""The treatment form, one shape per kind (only the settings that kind uses), and the event
message settings. The criteria are edited as plain fields and stored as the JSON of
``patients.criteria`` (without the dates, which come from each run's window)."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from messaging.models import EmailTemplate, SmsTemplate
from patients.models import AppointmentState, Chair, FileStatus, Nature, PatientType, Practitioner

from .models import APPOINTMENT_KINDS, EventMessageSetting, Treatment, TreatmentKind
from .runner import default_criteria
from .windows import WEEKDAY_CHOICES

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
TIME_INPUT = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")

# Model fields shown for every kind, then per kind.
COMMON = ["title", "active", "hour", "start_date", "periodicity", "weekdays", "month_day", "skip_holidays",
          "date_mode", "offset_from", "offset_to", "working_days", "fixed_from", "fixed_to",
          "verifiers", "verifiers_always"]
SENDING = ["send_sms", "sms_template", "send_email", "email_template", "email_when_no_mobile", "send_letter",
           "letter_template", "make_list"]
KIND_FIELDS = {
    TreatmentKind.APPOINTMENTS: SENDING
    + ["group_family", "c_practitioner_ids", "c_chair_ids", "c_nature_ids", "c_patient_type", "c_states", "c_time_from",
       "c_time_to", "c_include_urgent", "c_without_next_appointment"],
    TreatmentKind.MISSED: SENDING
    + ["c_practitioner_ids", "c_chair_ids", "c_nature_ids", "c_patient_type", "c_exclude_with_next_appointment",
       "c_exclude_came_since"],
    TreatmentKind.BIRTHDAYS: SENDING
    + ["c_practitioner_ids", "c_patient_type", "c_age_min", "c_age_max", "c_file_statuses"],
    TreatmentKind.RECALL: SENDING
    + ["c_no_appointment_since_months", "c_practitioner_ids", "c_patient_type", "c_file_statuses"],
    TreatmentKind.PLANNING: ["staff_recipients", "c_practitioner_ids", "c_chair_ids", "c_states"],
}
SECTIONS = [
    (_("Paramétrage"), ["title", "hour", "active"]),
    (_("Périodicité"), ["start_date", "periodicity", "weekdays", "month_day", "skip_holidays"]),
    (_("Période recherchée"), ["date_mode", "offset_from", "offset_to", "working_days", "fixed_from", "fixed_to"]),
    (_("Critères"), ["c_no_appointment_since_months", "c_practitioner_ids", "c_chair_ids", "c_nature_ids",
                  "c_patient_type", "c_age_min", "c_age_max", "c_file_statuses", "c_states", "c_time_from",
                  "c_time_to", "c_include_urgent", "c_without_next_appointment",
                  "c_exclude_with_next_appointment", "c_exclude_came_since"]),
    (_("Modes d'envoi"), SENDING + ["group_family", "staff_recipients"]),
    (_("Vérificateurs"), ["verifiers", "verifiers_always"]),
]


def _multi(queryset, label):
    return forms.ModelMultipleChoiceField(
        queryset=queryset, required=False, label=label, widget=forms.CheckboxSelectMultiple,
        help_text=_("Aucun coché : tous."),
    )


class TreatmentForm(forms.ModelForm):
    weekdays = forms.TypedMultipleChoiceField(
        choices=WEEKDAY_CHOICES, coerce=int, required=False, label=_("Jours"), widget=forms.CheckboxSelectMultiple
    )
    c_practitioner_ids = _multi(Practitioner.objects.filter(active=True), _("Praticiens"))
    c_chair_ids = _multi(Chair.objects.filter(active=True), _("Fauteuils"))
    c_nature_ids = _multi(Nature.objects.all(), _("Natures"))
    c_patient_type = forms.ChoiceField(
        choices=[("", _("Tous"))] + list(PatientType.choices), required=False, label=_("Type de patient")
    )
    c_states = forms.MultipleChoiceField(
        choices=AppointmentState.choices, required=False, label=_("État des rendez-vous"),
        widget=forms.CheckboxSelectMultiple,
    )
    c_time_from = forms.TimeField(required=False, label=_("Heures entre"), widget=TIME_INPUT)
    c_time_to = forms.TimeField(required=False, label=_("et"), widget=TIME_INPUT)
    c_include_urgent = forms.BooleanField(required=False, initial=True, label=_("Afficher les rendez-vous d'urgence"))
    c_without_next_appointment = forms.BooleanField(required=False, label=_("Sans prochain rendez-vous"))
    c_exclude_with_next_appointment = forms.BooleanField(
        required=False, label=_("Ne pas comptabiliser les patients avec un prochain rendez-vous")
    )
    c_exclude_came_since = forms.BooleanField(
        required=False, label=_("Ne pas comptabiliser les patients qui sont revenus après le rendez-vous manqué")
    )
    c_age_min = forms.IntegerField(required=False, min_value=0, max_value=130, label=_("Âge minimum"))
    c_age_max = forms.IntegerField(required=False, min_value=0, max_value=130, label=_("Âge maximum"))
    c_file_statuses = forms.MultipleChoiceField(
        choices=FileStatus.choices, required=False, label=_("État du dossier"), widget=forms.CheckboxSelectMultiple,
        help_text=_("Aucun coché : tous."),
    )
    c_no_appointment_since_months = forms.IntegerField(
        min_value=1, max_value=120, required=False, initial=6, label=_("Sans rendez-vous honoré depuis (mois)")
    )

    class Meta:
        model = Treatment
        fields = COMMON + SENDING + ["group_family", "staff_recipients"]
        widgets = {
            "start_date": DATE_INPUT,
            "fixed_from": DATE_INPUT,
            "fixed_to": DATE_INPUT,
            "hour": TIME_INPUT,
            "verifiers": forms.CheckboxSelectMultiple,
            "staff_recipients": forms.CheckboxSelectMultiple,
        }

    def __init__(self, *args, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        keep = set(COMMON) | set(KIND_FIELDS[kind])
        for name in list(self.fields):
            if name not in keep:
                del self.fields[name]
        users = get_user_model().objects.filter(is_active=True).order_by("last_name", "first_name", "username")
        for name in ("verifiers", "staff_recipients"):
            if name in self.fields:
                self.fields[name].queryset = users
                self.fields[name].label_from_instance = lambda u: u.get_full_name() or u.username
        # "Le choix se limite aux SMS types / emails types déjà configurés."
        if "sms_template" in self.fields:
            self.fields["sms_template"].queryset = SmsTemplate.objects.filter(active=True).select_related("category")
            self.fields["sms_template"].label_from_instance = lambda t: f"{t.category} – {t.title}"
        for name in ("email_template", "letter_template"):
            if name in self.fields:
                self.fields[name].queryset = EmailTemplate.objects.filter(active=True).select_related("category")
                self.fields[name].label_from_instance = lambda t: f"{t.category} – {t.label}"
        self.fields["weekdays"].initial = self.instance.weekdays or []
        criteria = {**default_criteria(kind), **(self.instance.criteria or {})}
        for name in self.fields:
            if name.startswith("c_"):
                value = criteria.get(name[2:])
                if value is not None and value != []:
                    self.initial.setdefault(name, value)
        if kind == TreatmentKind.PLANNING:
            self.fields["staff_recipients"].required = True

    def sections(self) -> list[tuple[str, list]]:
        return [
            (title, [self[name] for name in names if name in self.fields])
            for title, names in SECTIONS
            if any(name in self.fields for name in names)
        ]

    def criteria(self) -> dict:
        """The criteria JSON: the kind's defaults, overridden by the fields shown."""
        data = dict(default_criteria(self.kind))
        for name, field in self.fields.items():
            if not name.startswith("c_"):
                continue
            value = self.cleaned_data.get(name)
            if isinstance(field, forms.ModelMultipleChoiceField):
                value = sorted(obj.pk for obj in value or [])
            elif isinstance(value, list):
                value = list(value)
            elif hasattr(value, "isoformat"):
                value = value.isoformat()
            elif value == "" and name != "c_patient_type":
                value = None
            data[name[2:]] = value
        if self.kind == TreatmentKind.MISSED:
            data["states"] = [AppointmentState.MISSED.value]
        if self.kind in APPOINTMENT_KINDS and not data.get("states"):
            data["states"] = default_criteria(self.kind)["states"]
        return data


class KindChoiceForm(forms.Form):
    kind = forms.ChoiceField(choices=TreatmentKind.choices, label=_("Traitement"), widget=forms.RadioSelect)


class TestDateForm(forms.Form):
    date = forms.DateField(label=_("Date d'exécution simulée"), widget=DATE_INPUT)


class EventMessageSettingForm(forms.ModelForm):
    class Meta:
        model = EventMessageSetting
        fields = ["event", "nature", "channel", "sms_template", "email_template", "active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["nature"].empty_label = _("Toutes les natures")
        self.fields["sms_template"].queryset = SmsTemplate.objects.filter(active=True).select_related("category")
        self.fields["email_template"].queryset = EmailTemplate.objects.filter(active=True).select_related("category")
        for name in ("event", "nature", "channel", "sms_template", "email_template"):
            self.fields[name].widget.attrs["class"] = "form-select form-select-sm"


EventMessageFormSet = forms.modelformset_factory(
    EventMessageSetting, form=EventMessageSettingForm, extra=1, can_delete=True
)
