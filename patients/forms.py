"""Forms of the staff pages. They validate and show errors next to the fields, in French; the
writes happen in ``patients.services``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Layout, Row
from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from practice.validators import validate_header_text

from .models import (
    Appointment,
    AppointmentState,
    CancelledBy,
    Chair,
    Civility,
    Correspondent,
    Guardian,
    ImageType,
    Nature,
    Patient,
    PatientImage,
    PatientType,
    Practitioner,
    Sex,
    validate_not_future,
)
from .phones import FOREIGN_HINT
from .services import GuardianChoice, GuardianMode

# Lazy: the form shows them in the language of the request that validates it.
MOBILE_INVALID = lazy(lambda: gettext("Saisissez un numéro de portable valide, par exemple 06 84 28 55 60 ou "
                                      "0690 12 34 56 ; %(hint)s.") % {"hint": FOREIGN_HINT}, str)()
PHONE_INVALID = lazy(lambda: gettext("Saisissez un numéro de téléphone valide, par exemple 03 80 32 01 40 ; "
                                     "%(hint)s.") % {"hint": FOREIGN_HINT}, str)()


# Dates and times are typed the French way whatever the browser's language ("26/11/2019",
# "10h00"); ISO is still accepted so that links and scripts can pass 2019-11-26 and 10:00.
DATE_INPUT_FORMATS = ["%d/%m/%Y", "%d/%m/%y", "%Y-%m-%d"]
TIME_INPUT_FORMATS = ["%Hh%M", "%H:%M", "%Hh", "%H:%M:%S"]


class DateInput(forms.DateInput):
    def __init__(self, attrs=None):
        super().__init__(
            {"placeholder": "jj/mm/aaaa", "inputmode": "numeric", **(attrs or {})}, format="%d/%m/%Y"
        )


class TimeInput(forms.TimeInput):
    def __init__(self, attrs=None):
        super().__init__({"placeholder": "10h00", **(attrs or {})}, format="%Hh%M")


def _french_formats(form: forms.BaseForm) -> None:
    for form_field in form.fields.values():
        if isinstance(form_field, forms.DateField):
            form_field.input_formats = DATE_INPUT_FORMATS
        elif isinstance(form_field, forms.TimeField):
            form_field.input_formats = TIME_INPUT_FORMATS


class LookupWidget(forms.Widget):
    """Search-as-you-type picker for a ModelChoiceField over a large table: a text box that asks
    ``url_name`` (JSON ``{"results": [{"id", "label", "detail"}]}``) and a hidden input that carries
    the chosen id. Works with static/js/lookup.js; without a choice the field is empty."""

    template_name = "patients/widgets/lookup.html"

    def __init__(self, url_name: str, attrs=None):
        super().__init__(attrs)
        self.url_name = url_name

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        label = ""
        queryset = getattr(getattr(self, "choices", None), "queryset", None)
        if value not in (None, "") and queryset is not None:
            try:
                chosen = queryset.filter(pk=value).first()
            except (ValueError, TypeError, ValidationError):
                chosen = None
            label = str(chosen) if chosen else ""
        context["widget"].update({"url": reverse(self.url_name), "label": label})
        return context


def _phone_messages(form: forms.ModelForm) -> None:
    """French messages for unparseable numbers (the model's validators already explain a landline
    typed into the mobile field)."""
    if "mobile" in form.fields:
        form.fields["mobile"].error_messages["invalid"] = MOBILE_INVALID
    if "phone" in form.fields:
        form.fields["phone"].error_messages["invalid"] = PHONE_INVALID


CONTACT_FIELDS = [
    "address1",
    "address2",
    "postcode",
    "city",
    "country",
    "email",
    "phone",
    "mobile",
    "sms_consent",
    "email_consent",
]


class PatientForm(forms.ModelForm):
    """The "Patient" tab of the administrative file."""

    class Meta:
        model = Patient
        fields = [
            "civility",
            "last_name",
            "first_name",
            "second_first_name",
            "file_number",
            "birth_date",
            "sex",
            "patient_type",
            "file_status",
            "practitioner",
            *CONTACT_FIELDS,
            "remark",
        ]
        widgets = {"birth_date": DateInput(), "remark": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _phone_messages(self)
        _french_formats(self)
        self.fields["civility"].choices = [("", "—"), *Civility.choices]
        self.fields["patient_type"].choices = [("", _("Selon l'âge")), *PatientType.choices]
        self.fields["sex"].choices = [("", "—"), *Sex.choices]
        if not self.instance.pk:
            self.fields["file_number"].required = False
            self.fields["file_number"].help_text = _("Laisser vide pour prendre le numéro suivant.")
        self.fields["practitioner"].queryset = Practitioner.objects.filter(active=True)
        self.fields["practitioner"].empty_label = "—"
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.layout = Layout(
            Row(
                Column("civility", css_class="col-md-2"),
                Column("last_name", css_class="col-md-4"),
                Column("first_name", css_class="col-md-3"),
                Column("second_first_name", css_class="col-md-3"),
            ),
            Row(
                Column("file_number", css_class="col-md-2"),
                Column("birth_date", css_class="col-md-2"),
                Column("sex", css_class="col-md-2"),
                Column("patient_type", css_class="col-md-2"),
                Column("file_status", css_class="col-md-2"),
                Column("practitioner", css_class="col-md-2"),
            ),
            Row(
                Column("address1", css_class="col-md-6"),
                Column("address2", css_class="col-md-6"),
            ),
            Row(
                Column("postcode", css_class="col-md-2"),
                Column("city", css_class="col-md-6"),
                Column("country", css_class="col-md-4"),
            ),
            Row(
                Column("email", css_class="col-md-4"),
                Column("phone", css_class="col-md-3"),
                Column("mobile", css_class="col-md-3"),
                Column("sms_consent", "email_consent", css_class="col-md-2"),
            ),
            "remark",
        )

    def patient_data(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


class GuardianForm(forms.ModelForm):
    """A guardian's identity and contact details, typed in on the "Responsables" tab or edited
    on its own page."""

    class Meta:
        model = Guardian
        fields = [
            "civility",
            "last_name",
            "first_name",
            "maiden_name",
            "birth_date",
            "profession",
            *CONTACT_FIELDS,
        ]
        widgets = {"birth_date": DateInput()}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _phone_messages(self)
        _french_formats(self)
        self.fields["civility"].choices = [("", "—"), *Civility.choices]
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.layout = Layout(
            Row(
                Column("civility", css_class="col-md-2"),
                Column("last_name", css_class="col-md-4"),
                Column("first_name", css_class="col-md-3"),
                Column("maiden_name", css_class="col-md-3"),
            ),
            Row(Column("birth_date", css_class="col-md-3"), Column("profession", css_class="col-md-9")),
            Row(Column("address1", css_class="col-md-6"), Column("address2", css_class="col-md-6")),
            Row(
                Column("postcode", css_class="col-md-2"),
                Column("city", css_class="col-md-6"),
                Column("country", css_class="col-md-4"),
            ),
            Row(
                Column("email", css_class="col-md-4"),
                Column("phone", css_class="col-md-3"),
                Column("mobile", css_class="col-md-3"),
                Column("sms_consent", "email_consent", css_class="col-md-2"),
            ),
        )

    def guardian_data(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


class GuardianChoiceForm(forms.Form):
    """Who the civil (or financial) guardian is: the patient, the civil guardian (financial
    only), an existing guardian, or a new one typed in the nested ``new`` form."""

    mode = forms.ChoiceField(label=_("Responsable"), widget=forms.RadioSelect)
    guardian = forms.ModelChoiceField(
        Guardian.objects.all(),
        label=_("Responsable existant"),
        required=False,
        widget=LookupWidget("patients:guardian_lookup"),
        help_text=_("Tapez le début du nom ou un numéro de téléphone, puis choisissez dans la liste."),
    )

    def __init__(
        self, *args, financial: bool = False, current: Guardian | None = None, same_as_civil=False, **kwargs
    ):
        prefix = "financial" if financial else "civil"
        kwargs.setdefault("prefix", prefix)
        if current is not None:
            initial_mode = GuardianMode.SAME_AS_CIVIL if same_as_civil else GuardianMode.EXISTING
        else:
            initial_mode = GuardianMode.SELF
        kwargs.setdefault("initial", {"mode": initial_mode, "guardian": current.pk if current else None})
        super().__init__(*args, **kwargs)
        choices = [(GuardianMode.SELF, _("Le patient lui-même"))]
        if financial:
            choices.append((GuardianMode.SAME_AS_CIVIL, _("Le responsable civil")))
        choices += [
            (GuardianMode.EXISTING, _("Un responsable déjà enregistré")),
            (GuardianMode.NEW, _("Un nouveau responsable (saisi ci-dessous)")),
        ]
        self.fields["mode"].choices = choices
        self.fields["mode"].label = _("Responsable financier") if financial else _("Responsable civil")
        data = args[0] if args else kwargs.get("data")
        self.new = GuardianForm(data, prefix=f"{self.prefix}-new")
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True

    def is_valid(self) -> bool:
        valid = super().is_valid()
        if self.cleaned_data.get("mode") == GuardianMode.NEW:
            new_valid = self.new.is_valid()
            return valid and new_valid
        # The nested form only matters for a new guardian: shown again empty, without the
        # "required" errors of a form nobody meant to fill in.
        self.new = GuardianForm(prefix=f"{self.prefix}-new")
        return valid

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("mode") == GuardianMode.EXISTING and not cleaned.get("guardian"):
            self.add_error("guardian", _("Choisissez le responsable dans la liste (tapez le début de son nom)."))
        return cleaned

    @property
    def has_any_errors(self) -> bool:
        return bool(self.errors) or (self.new.is_bound and bool(self.new.errors))

    def choice(self) -> GuardianChoice:
        mode = self.cleaned_data["mode"]
        if mode == GuardianMode.EXISTING:
            return GuardianChoice(mode, guardian=self.cleaned_data["guardian"])
        if mode == GuardianMode.NEW:
            return GuardianChoice(mode, data=self.new.guardian_data())
        return GuardianChoice(mode)


class CorrespondentLinkForm(forms.Form):
    correspondent = forms.ModelChoiceField(
        Correspondent.objects.order_by("last_name", "first_name"),
        label=_("Correspondant"),
        empty_label="—",
        widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
    )
    role = forms.CharField(
        label=_("Rôle"),
        max_length=60,
        required=False,
        initial="Dentiste traitant",
        widget=forms.TextInput(attrs={"class": "form-control form-control-sm"}),
    )


class BaseCorrespondentFormSet(forms.BaseFormSet):
    def clean(self):
        seen = set()
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or self._should_delete_form(form):
                continue
            correspondent = form.cleaned_data.get("correspondent")
            if correspondent is None:
                continue
            if correspondent.pk in seen:
                form.add_error("correspondent", _("Ce correspondant est déjà lié au patient."))
            seen.add(correspondent.pk)

    def links(self) -> list[tuple[Correspondent, str]]:
        return [
            (form.cleaned_data["correspondent"], form.cleaned_data.get("role", ""))
            for form in self.forms
            if form.cleaned_data.get("correspondent") and not self._should_delete_form(form)
        ]


CorrespondentFormSet = forms.formset_factory(
    CorrespondentLinkForm, formset=BaseCorrespondentFormSet, extra=1, can_delete=True
)


def correspondent_formset(data=None, *, patient: Patient | None = None) -> BaseCorrespondentFormSet:
    initial = []
    if patient is not None and patient.pk:
        initial = [
            {"correspondent": link.correspondent_id, "role": link.role}
            for link in patient.correspondent_links.select_related("correspondent").order_by(
                "correspondent__last_name"
            )
        ]
    return CorrespondentFormSet(data, initial=initial, prefix="corr")


class FamilyMemberForm(forms.Form):
    """One line of "Création d'une fiche pour un nouveau membre"."""

    first_name = forms.CharField(label=_("Prénom"), max_length=80, validators=[validate_header_text])
    sex = forms.ChoiceField(label=_("Sexe"), choices=[("", "—"), *Sex.choices], required=False)
    birth_date = forms.DateField(
        label=_("Date de naissance"),
        required=False,
        widget=DateInput(),
        input_formats=DATE_INPUT_FORMATS,
        validators=[validate_not_future],
    )


FamilyMemberFormSet = forms.formset_factory(FamilyMemberForm, extra=3, max_num=3)


def family_member_formset(data=None) -> forms.BaseFormSet:
    return FamilyMemberFormSet(data, prefix="member")


def family_members_data(formset) -> list[dict[str, Any]]:
    return [form.cleaned_data for form in formset.forms if form.has_changed() and form.cleaned_data]


class PatientImageForm(forms.ModelForm):
    file = forms.ImageField(label=_("Image"))

    class Meta:
        model = PatientImage
        fields = ["file", "image_type", "subtype", "stage", "taken_on", "label"]
        widgets = {"taken_on": DateInput()}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _french_formats(self)
        self.fields["image_type"].choices = [("", "—"), *ImageType.choices]
        self.fields["taken_on"].validators.append(
            lambda value: validate_date_not_future(value, _("La date de prise ne peut pas être dans le futur."))
        )
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.layout = Layout(
            Row(Column("file", css_class="col-md-4"), Column("label", css_class="col-md-8")),
            Row(
                Column("image_type", css_class="col-md-3"),
                Column("subtype", css_class="col-md-3"),
                Column("stage", css_class="col-md-3"),
                Column("taken_on", css_class="col-md-3"),
            ),
        )


def validate_date_not_future(value: dt.date | None, message: str) -> None:
    if value and value > timezone.localdate():
        raise ValidationError(message)


# Appointments ---------------------------------------------------------------------------------


def _local_start(day: dt.date, time: dt.time) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, time), timezone.get_current_timezone())


class SlotFields(forms.Form):
    """Date, time, practitioner, chair and duration: where and when an appointment is."""

    day = forms.DateField(label=_("Date"), widget=DateInput(), input_formats=DATE_INPUT_FORMATS)
    time = forms.TimeField(label=_("Heure"), widget=TimeInput(), input_formats=TIME_INPUT_FORMATS)
    practitioner = forms.ModelChoiceField(
        Practitioner.objects.filter(active=True), label=_("Praticien"), empty_label=None
    )
    chair = forms.ModelChoiceField(
        Chair.objects.filter(active=True), label=_("Fauteuil"), required=False, empty_label="—"
    )
    duration = forms.IntegerField(label=_("Durée (min)"), min_value=5, max_value=480, required=False)
    forced = forms.BooleanField(
        label=_("Forcé"),
        required=False,
        help_text=_("Prendre le créneau même s'il chevauche un autre rendez-vous."),
    )

    def start(self) -> dt.datetime:
        return _local_start(self.cleaned_data["day"], self.cleaned_data["time"])


class AppointmentForm(SlotFields):
    patient = forms.ModelChoiceField(
        Patient.objects.all(),
        label=_("Patient"),
        required=False,
        widget=LookupWidget("patients:lookup"),
        help_text=_("Nom, prénom, n° de dossier ou téléphone, puis choisissez dans la liste."),
    )
    external_name = forms.CharField(
        label=_("Ou personne externe"),
        max_length=120,
        required=False,
        help_text=_("Rendez-vous sans dossier patient."),
    )
    nature = forms.ModelChoiceField(
        Nature.objects.all(),
        label=_("Nature"),
        required=False,
        empty_label="—",
        help_text=_("La durée par défaut de la nature s'applique si la durée est vide."),
    )
    urgent = forms.BooleanField(label=_("Urgence"), required=False)
    remark = forms.CharField(label=_("Remarque"), max_length=255, required=False)

    field_order = ["patient", "external_name", "day", "time", "practitioner", "chair", "nature", "duration"]

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("patient") and not cleaned.get("external_name", "").strip():
            self.add_error("patient", _("Choisissez un patient ou indiquez le nom d'une personne externe."))
        return cleaned


class AppointmentMoveForm(SlotFields):
    @classmethod
    def for_appointment(cls, appointment: Appointment, data=None):
        local = timezone.localtime(appointment.start)
        initial = {
            "day": local.date(),
            "time": local.time().replace(second=0, microsecond=0),
            "practitioner": appointment.practitioner_id,
            "chair": appointment.chair_id,
            "duration": appointment.duration,
            "forced": appointment.forced,
        }
        form = cls(data, initial=initial)
        # A practitioner who left keeps their old appointments movable to someone else.
        form.fields["practitioner"].queryset = Practitioner.objects.filter(
            active=True
        ) | Practitioner.objects.filter(pk=appointment.practitioner_id)
        return form


class AppointmentStateForm(forms.Form):
    state = forms.ChoiceField(label=_("État"), choices=AppointmentState.choices)
    cancelled_by = forms.ChoiceField(
        label=_("Annulé / reporté"), choices=[("", "—"), *CancelledBy.choices], required=False
    )


class AppointmentCancelForm(forms.Form):
    """Cancel or postpone: who asked for it is required, as the statistics of the practice use it."""

    state = forms.ChoiceField(
        label=_("Le rendez-vous est"),
        choices=[(AppointmentState.CANCELLED, _("Annulé")), (AppointmentState.POSTPONED, _("Reporté"))],
        initial=AppointmentState.CANCELLED,
        widget=forms.RadioSelect,
    )
    cancelled_by = forms.ChoiceField(
        label=_("À la demande de"),
        choices=CancelledBy.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Indiquez si l'annulation vient du cabinet ou du patient.")},
    )
