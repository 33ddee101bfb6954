"""Forms of the "Recherches" pages: they turn the query string into the shared criteria."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .criteria import AppointmentCriteria, PatientCriteria
from .models import (
    AppointmentState,
    CancelledBy,
    Chair,
    Family,
    FileStatus,
    Nature,
    PatientType,
    Practitioner,
)

TRI = [("start", _("Heure de rendez-vous")), ("patient", _("Patient")), ("practitioner", _("Praticien"))]
URGENT = [("include", _("Afficher les rendez-vous d'urgence")), ("exclude", _("Sans les urgences")), ("only", _("Uniquement les urgences"))]
YES_NO = [("", _("Indifférent")), ("1", _("Oui")), ("0", _("Non"))]
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
TIME = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")


# The search's state boxes read in the plural ("Futurs", "Manqués"), in each language.
STATE_PLURALS = [
    (AppointmentState.FUTURE, _("Futurs")),
    (AppointmentState.PRESENT, _("Présents")),
    (AppointmentState.MISSED, _("Manqués")),
    (AppointmentState.POSTPONED, _("Reportés")),
    (AppointmentState.CANCELLED, _("Annulés")),
    (AppointmentState.EXCUSED, _("Excusés")),
]


class _Styled:
    """Bootstrap classes on every widget (the pages render fields one by one)."""

    def _style(self) -> None:
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput | forms.CheckboxSelectMultiple | forms.RadioSelect):
                widget.attrs.setdefault("class", "form-check-input")
            elif isinstance(widget, forms.Select | forms.SelectMultiple):
                widget.attrs.setdefault("class", "form-select form-select-sm")
            else:
                widget.attrs.setdefault("class", "form-control form-control-sm")


def _tristate(value: str) -> bool | None:
    return {"1": True, "0": False}.get(value)


class AppointmentSearchForm(_Styled, forms.Form):
    date_from = forms.DateField(label=_("Entre le"), widget=DATE)
    date_to = forms.DateField(label=_("et le"), widget=DATE)
    time_from = forms.TimeField(label=_("Heures entre"), required=False, widget=TIME)
    time_to = forms.TimeField(label=_("et"), required=False, widget=TIME)
    practitioners = forms.ModelMultipleChoiceField(
        label=_("Praticien"), queryset=Practitioner.objects.filter(active=True), required=False,
        widget=forms.SelectMultiple(attrs={"size": 3}),
    )
    chairs = forms.ModelMultipleChoiceField(
        label=_("Fauteuil"), queryset=Chair.objects.filter(active=True), required=False,
        widget=forms.SelectMultiple(attrs={"size": 3}),
    )
    family = forms.CharField(label=_("Famille"), required=False, help_text=_("Nom de la famille (vide : toutes)."))
    patient_type = forms.ChoiceField(label=_("Type"), choices=[("", _("Tous")), *PatientType.choices], required=False)
    natures = forms.ModelMultipleChoiceField(
        label=_("Natures"), queryset=Nature.objects.all(), required=False, widget=forms.SelectMultiple(attrs={"size": 3}),
    )
    states = forms.MultipleChoiceField(
        label=_("État des rendez-vous"), choices=STATE_PLURALS, required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    cancelled_by = forms.MultipleChoiceField(
        label=_("Annulés / reportés"), choices=CancelledBy.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    taken_in_period = forms.BooleanField(label=_("Rendez-vous pris dans cette période"), required=False)
    without_next_appointment = forms.BooleanField(label=_("Sans prochain rendez-vous"), required=False)
    exclude_came_since = forms.BooleanField(label=_("Sans venue depuis (rendez-vous manqués)"), required=False)
    urgent = forms.ChoiceField(label=_("Urgences"), choices=URGENT, required=False)
    include_external = forms.BooleanField(label=_("Intégrer les rendez-vous externes"), required=False)
    forced_only = forms.BooleanField(label=_("Uniquement les rendez-vous forcés"), required=False)
    order = forms.ChoiceField(label=_("Tri"), choices=TRI, required=False)

    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        tomorrow = timezone.localdate() + dt.timedelta(days=1)
        self.fields["date_from"].initial = self.fields["date_to"].initial = tomorrow
        self.fields["time_from"].initial, self.fields["time_to"].initial = dt.time(7), dt.time(21)
        self.fields["states"].initial = [AppointmentState.FUTURE]
        self._style()

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_to"] < data["date_from"]:
            self.add_error("date_to", _("La date de fin est avant la date de début."))
        return data

    def to_criteria(self) -> AppointmentCriteria:
        d = self.cleaned_data
        family_ids: list[int] = []
        if d.get("family"):
            family_ids = list(Family.objects.filter(name__icontains=d["family"]).values_list("pk", flat=True)) or [0]
        urgent = d.get("urgent") or "include"
        return AppointmentCriteria(
            date_from=d["date_from"],
            date_to=d["date_to"],
            time_from=d.get("time_from"),
            time_to=d.get("time_to"),
            practitioner_ids=[p.pk for p in d.get("practitioners") or []],
            chair_ids=[c.pk for c in d.get("chairs") or []],
            family_ids=family_ids,
            patient_type=d.get("patient_type") or "",
            nature_ids=[n.pk for n in d.get("natures") or []],
            states=list(d.get("states") or []),
            cancelled_by=list(d.get("cancelled_by") or []),
            taken_in_period=bool(d.get("taken_in_period")),
            without_next_appointment=bool(d.get("without_next_appointment")),
            exclude_came_since=bool(d.get("exclude_came_since")),
            urgent_only=urgent == "only",
            include_urgent=urgent != "exclude",
            include_external=bool(d.get("include_external")),
            forced_only=bool(d.get("forced_only")),
            order=d.get("order") or "start",
        )


class PatientSearchForm(_Styled, forms.Form):
    birthday_from = forms.DateField(label=_("Anniversaire entre le"), required=False, widget=DATE)
    birthday_to = forms.DateField(label=_("et le"), required=False, widget=DATE)
    age_min = forms.IntegerField(label=_("Âge de"), required=False, min_value=0, max_value=130)
    age_max = forms.IntegerField(label=_("à"), required=False, min_value=0, max_value=130)
    patient_type = forms.ChoiceField(label=_("Type"), choices=[("", _("Tous")), *PatientType.choices], required=False)
    file_statuses = forms.MultipleChoiceField(
        label=_("État du dossier"), choices=FileStatus.choices, required=False,
        widget=forms.SelectMultiple(attrs={"size": 4}),
    )
    practitioners = forms.ModelMultipleChoiceField(
        label=_("Praticien"), queryset=Practitioner.objects.filter(active=True), required=False,
        widget=forms.SelectMultiple(attrs={"size": 3}),
    )
    no_appointment_since_months = forms.IntegerField(
        label=_("Sans rendez-vous honoré depuis (mois)"), required=False, min_value=1, max_value=240
    )
    has_mobile = forms.ChoiceField(label=_("Avec un portable"), choices=YES_NO, required=False)
    has_email = forms.ChoiceField(label=_("Avec un email"), choices=YES_NO, required=False)
    sms_consent = forms.ChoiceField(label=_("Accepte les SMS"), choices=YES_NO, required=False)
    email_consent = forms.ChoiceField(label=_("Accepte les emails"), choices=YES_NO, required=False)
    news_consent = forms.ChoiceField(label=_("Accepte les actualités"), choices=YES_NO, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._style()

    def clean(self):
        data = super().clean()
        if bool(data.get("birthday_from")) != bool(data.get("birthday_to")):
            self.add_error("birthday_to", _("Indiquez les deux dates de la période d'anniversaires."))
        elif data.get("birthday_from") and data["birthday_to"] < data["birthday_from"]:
            # The selector would answer "nobody": say why instead (20/12/2025 to 10/01/2026 spans
            # the new year; 10/01 to 20/12 of the same winter is a typing error).
            self.add_error(
                "birthday_to",
                _("La fin de la période d'anniversaires est avant son début : "
                "pour passer le nouvel an, indiquez l'année suivante (du 20/12/2025 au 10/01/2026)."),
            )
        age_min, age_max = data.get("age_min"), data.get("age_max")
        if age_min is not None and age_max is not None and age_max < age_min:
            self.add_error("age_max", _("L'âge maximum est inférieur à l'âge minimum."))
        return data

    def to_criteria(self) -> PatientCriteria:
        d = self.cleaned_data
        return PatientCriteria(
            birthday_from=d.get("birthday_from"),
            birthday_to=d.get("birthday_to"),
            age_min=d.get("age_min"),
            age_max=d.get("age_max"),
            patient_type=d.get("patient_type") or "",
            file_statuses=list(d.get("file_statuses") or []),
            practitioner_ids=[p.pk for p in d.get("practitioners") or []],
            no_appointment_since_months=d.get("no_appointment_since_months"),
            has_mobile=_tristate(d.get("has_mobile") or ""),
            has_email=_tristate(d.get("has_email") or ""),
            sms_consent=_tristate(d.get("sms_consent") or ""),
            email_consent=_tristate(d.get("email_consent") or ""),
            news_consent=_tristate(d.get("news_consent") or ""),
        )
