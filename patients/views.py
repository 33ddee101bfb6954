"""Staff pages of patients and appointments. Each view checks a Django permission (a refusal is
the 403 page), reads through ``selectors``, writes through ``services`` and shows a service's
``ValidationError`` on the form."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from practice.files import file_response

from . import forms, selectors, services
from .models import (
    Appointment,
    AppointmentState,
    CancelledBy,
    Chair,
    CorrespondentRelationship,
    Guardian,
    PatientImage,
    Practitioner,
)
from .phones import format_fr
from .templatetags.fr_format import heure

PAGE_SIZE = 50
LOOKUP_LIMIT = 10


def staff_view(*perms: str):
    """login_required (anonymous users go to the login page) then every permission in ``perms``
    (a signed-in user without them gets the 403 page)."""

    def decorate(view):
        return login_required(permission_required(perms, raise_exception=True)(view))

    return decorate


def _add_service_error(form, error: ValidationError) -> None:
    """Show a service's refusal on the form: next to the field it names, else at the top."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


def _safe_next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return default


# Patients -------------------------------------------------------------------------------------


@staff_view("patients.view_patient")
def patient_list(request):
    query = request.GET.get("q", "").strip()
    paginator = Paginator(selectors.patient_search(query=query), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    return render(request, "patients/patient_list.html", {"page": page, "query": query})


@staff_view("patients.view_patient")
def patient_detail(request, pk: int):
    patient = selectors.patient_file(pk=pk)
    return render(request, "patients/patient_detail.html", _detail_context(request, patient))


def _detail_context(request, patient, **extra) -> dict:
    practitioners = list(Practitioner.objects.filter(active=True))
    labels = dict(CorrespondentRelationship.choices)
    # One row per linked correspondent with its relationship to each practitioner (prefetched).
    correspondent_rows = [
        (link, [labels.get(link.correspondent.relationship_with(p), "") for p in practitioners])
        for link in patient.correspondent_links.all()
    ]
    context = {
        "patient": patient,
        "correspondent_rows": correspondent_rows,
        "practitioners": practitioners,
        "family": selectors.family_members(patient=patient),
        "upcoming": selectors.upcoming_appointments(patient=patient),
        "member_formset": forms.family_member_formset(),
        "image_form": forms.PatientImageForm(initial={"taken_on": timezone.localdate()}),
        "tab": request.GET.get("onglet", "patient"),
    }
    context.update(extra)
    return context


def _patient_forms(request, patient=None):
    """The forms of the create and edit pages, bound on POST."""
    data = request.POST if request.method == "POST" else None
    civil = patient.civil_guardian if patient else None
    financial = patient.financial_guardian if patient else None
    same = bool(financial and civil and financial.pk == civil.pk)
    return {
        "form": forms.PatientForm(data, instance=patient),
        "civil_form": forms.GuardianChoiceForm(data, current=civil),
        "financial_form": forms.GuardianChoiceForm(
            data, financial=True, current=financial, same_as_civil=same
        ),
        "corr_formset": forms.correspondent_formset(data, patient=patient),
    }


def _first_tab_with_errors(bound: dict) -> str:
    if bound["form"].errors:
        return "patient"
    if bound["civil_form"].has_any_errors or bound["financial_form"].has_any_errors:
        return "responsables"
    if not bound["corr_formset"].is_valid():
        return "correspondants"
    return "patient"


def _save_patient(request, patient=None):
    """Validate the create/edit forms and call the service; returns (patient or None, forms)."""
    bound = _patient_forms(request, patient)
    # Every form is validated (not short-circuited) so that each shows its own errors.
    results = [
        bound["form"].is_valid(),
        bound["civil_form"].is_valid(),
        bound["financial_form"].is_valid(),
        bound["corr_formset"].is_valid(),
    ]
    if not all(results):
        return None, bound
    arguments = {
        "data": bound["form"].patient_data(),
        "civil_guardian": bound["civil_form"].choice(),
        "financial_guardian": bound["financial_form"].choice(),
        "correspondents": bound["corr_formset"].links(),
    }
    try:
        if patient is None:
            saved = services.patient_create(**arguments)
        else:
            saved = services.patient_update(patient=patient, **arguments)
    except ValidationError as error:
        _add_service_error(bound["form"], error)
        return None, bound
    return saved, bound


@staff_view("patients.add_patient")
def patient_create(request):
    if request.method == "POST":
        patient, bound = _save_patient(request)
        if patient is not None:
            messages.success(
                request, _("La fiche de %(display_name)s est créée (dossier n° %(file_number)s).") % {"display_name": patient.display_name, "file_number": patient.file_number}
            )
            return redirect(patient)
        messages.error(request, _("La fiche n'est pas enregistrée : corrigez les champs signalés en rouge."))
    else:
        bound = _patient_forms(request)
    return render(
        request,
        "patients/patient_form.html",
        {
            **bound,
            "patient": None,
            "tab": _first_tab_with_errors(bound) if request.method == "POST" else "patient",
        },
    )


@staff_view("patients.change_patient")
def patient_edit(request, pk: int):
    patient = selectors.patient_file(pk=pk)
    title = patient.display_name  # before the form binds: a failed edit must not rename the header
    if request.method == "POST":
        saved, bound = _save_patient(request, patient)
        if saved is not None:
            messages.success(request, _("La fiche de %(display_name)s est enregistrée.") % {"display_name": saved.display_name})
            return redirect(saved)
        messages.error(request, _("La fiche n'est pas enregistrée : corrigez les champs signalés en rouge."))
    else:
        bound = _patient_forms(request, patient)
    return render(
        request,
        "patients/patient_form.html",
        {
            **bound,
            "patient": patient,
            "title": title,
            "tab": _first_tab_with_errors(bound)
            if request.method == "POST"
            else request.GET.get("onglet", "patient"),
        },
    )


@require_POST
@staff_view("patients.add_patient", "patients.view_patient")
def family_member_create(request, pk: int):
    patient = selectors.patient_file(pk=pk)
    formset = forms.family_member_formset(request.POST)
    members = forms.family_members_data(formset) if formset.is_valid() else None
    if members:
        try:
            with transaction.atomic():
                created = services.family_members_create(patient=patient, members=members)
        except ValidationError as error:
            formset.forms[0].add_error(None, error)
        else:
            names = ", ".join(p.display_name for p in created)
            messages.success(request, _("Nouvelle fiche dans la famille : %(names)s.") % {"names": names})
            return redirect(patient)
    elif members is not None:
        formset.forms[0].add_error(None, _("Indiquez au moins le prénom d'un nouveau membre."))
    messages.error(request, _("Les nouvelles fiches ne sont pas créées : corrigez les lignes signalées."))
    return render(
        request, "patients/patient_detail.html", _detail_context(request, patient, member_formset=formset)
    )


@staff_view("patients.change_guardian")
def guardian_edit(request, pk: int):
    guardian = get_object_or_404(Guardian, pk=pk)
    title = guardian.display_name
    form = forms.GuardianForm(request.POST or None, instance=guardian)
    back = _safe_next(request, reverse("patients:list"))
    if request.method == "POST" and form.is_valid():
        try:
            services.guardian_update(guardian=guardian, data=form.guardian_data())
        except ValidationError as error:
            _add_service_error(form, error)
        else:
            messages.success(request, _("Le responsable %(display_name)s est enregistré.") % {"display_name": guardian.display_name})
            return HttpResponseRedirect(back)
    wards = guardian.civil_wards.all() | guardian.financial_wards.all()
    return render(
        request,
        "patients/guardian_form.html",
        {"form": form, "guardian": guardian, "title": title, "back": back, "wards": wards.distinct()},
    )


# Images ---------------------------------------------------------------------------------------


@require_POST
@staff_view("patients.add_patientimage", "patients.view_patient")
def image_add(request, pk: int):
    patient = selectors.patient_file(pk=pk)
    form = forms.PatientImageForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.patient_image_add(patient=patient, **form.cleaned_data)
        except ValidationError as error:
            _add_service_error(form, error)
        else:
            messages.success(request, _("L'image est ajoutée à l'album."))
            return redirect(f"{patient.get_absolute_url()}?onglet=images")
    messages.error(request, _("L'image n'est pas ajoutée : corrigez les champs signalés."))
    context = _detail_context(request, patient, image_form=form, tab="images")
    return render(request, "patients/patient_detail.html", context)


@require_GET
@staff_view("patients.view_patientimage")
def image_file(request, pk: int):
    """The image itself, only to staff allowed to see it (never a public media URL)."""
    image = get_object_or_404(PatientImage, pk=pk)
    return file_response(image.file.name, inline_image=True, storage=image.file.storage)


@require_POST
@staff_view("patients.delete_patientimage")
def image_delete(request, pk: int):
    image = get_object_or_404(PatientImage.objects.select_related("patient"), pk=pk)
    patient = image.patient
    services.patient_image_delete(image=image)
    messages.success(request, _("L'image est supprimée de l'album."))
    return redirect(f"{patient.get_absolute_url()}?onglet=images")


# Pickers (search as you type) -----------------------------------------------------------------


@require_GET
@staff_view("patients.view_patient")
def patient_lookup(request):
    query = request.GET.get("q", "").strip()
    results = []
    if len(query) >= 2:
        for p in selectors.patient_search(query=query)[:LOOKUP_LIMIT]:
            details = [f"dossier {p.file_number}"]
            if p.birth_date:
                details.append(f"{p.birth_date:%d/%m/%Y}")
            if p.mobile:
                details.append(format_fr(p.mobile))
            results.append({"id": p.pk, "label": str(p), "detail": " · ".join(details)})
    return JsonResponse({"results": results})


@require_GET
@staff_view("patients.view_guardian")
def guardian_lookup(request):
    query = request.GET.get("q", "").strip()
    results = []
    if len(query) >= 2:
        for g in selectors.guardian_search(query=query, limit=LOOKUP_LIMIT):
            details = [line for line in (format_fr(g.mobile) or format_fr(g.phone), g.city) if line]
            results.append({"id": g.pk, "label": str(g), "detail": " · ".join(details)})
    return JsonResponse({"results": results})


# Planning -------------------------------------------------------------------------------------


def _try_day(value: str | None) -> dt.date | None:
    """The day of ``?jour=``: ISO (links) or 26/11/2019 (typed); None when absent or wrong."""
    for fmt in ("%Y-%m-%d", *forms.DATE_INPUT_FORMATS):
        try:
            return dt.datetime.strptime((value or "").strip(), fmt).date()
        except ValueError:
            continue
    return None


def _parse_day(value: str | None) -> dt.date:
    """The day of ``?jour=``, today when absent or wrong (a default for a form's initial day)."""
    return _try_day(value) or timezone.localdate()


def _requested_day(request) -> dt.date:
    """The planning's day; a typed date that does not exist (31/02) falls back to today with a
    warning, so that staff never read today's appointments believing they are the 31st's."""
    raw = (request.GET.get("jour") or "").strip()
    day = _try_day(raw)
    if day is None:
        day = timezone.localdate()
        if raw:
            messages.warning(
                request, _("Date invalide : « %(raw)s ». Voici les rendez-vous d'aujourd'hui (%(day)s).")
                % {"raw": raw, "day": f"{day:%d/%m/%Y}"}
            )
    return day


def _planning_url(day: dt.date, chair_id=None) -> str:
    url = f"{reverse('patients:planning')}?jour={day.isoformat()}"
    return f"{url}&fauteuil={chair_id}" if chair_id else url


# The state menu of a planning slot: each state but the current one.
QUICK_STATES = [
    (AppointmentState.PRESENT, _("Présent")),
    (AppointmentState.MISSED, _("Manqué")),
    (AppointmentState.EXCUSED, _("Excusé")),
    (AppointmentState.FUTURE, _("Futur")),
]
_PK = 987654321  # stands for an appointment's id in a URL reversed once per page


class _Urls:
    """The URLs of one kind for every row of a page, reversed once: a hundred ``{% url %}`` per
    page cost more than the rest of a row."""

    def __init__(self, name: str):
        self.head, self.tail = reverse(name, args=[_PK]).split(str(_PK))

    def __call__(self, pk: int) -> str:
        return f"{self.head}{pk}{self.tail}"


def planning_slots(appointments, *, can_change: bool) -> list[dict]:
    """The rows of ``appointments`` (loaded with patient, nature and chair) as the planning shows
    them, each computed once here (times, links, labels): a busy day's page renders a hundred.
    Plain dicts of strings: the template engine finds a dict's key at its first try, where an
    object's attribute costs it a failed ``obj[key]`` first. ``appointment`` is the row's
    Appointment, for the rare parts that read it (the patient's SMS answers)."""
    detail = _Urls("patients:detail")
    state, cancel, move = (_Urls(n) for n in ("patients:appointment_state", "patients:appointment_cancel",
                                                "patients:appointment_move"))
    # Translated once for the page, not once per row.
    quick_states = [(value, str(label)) for value, label in QUICK_STATES]
    state_labels = {value: str(label) for value, label in AppointmentState.choices}
    cancelled_by = {value: str(label).lower() for value, label in CancelledBy.choices}
    slots = []
    for a in appointments:
        start = timezone.localtime(a.start)
        label = state_labels.get(a.state, a.state)
        if a.cancelled_by:
            label = f"{label} ({cancelled_by.get(a.cancelled_by, a.cancelled_by)})"
        nature, chair = a.nature, a.chair
        slots.append({
            "appointment": a, "pk": a.pk, "state": a.state, "duration": a.duration,
            "urgent": a.urgent, "forced": a.forced, "remark": a.remark,
            "replied": bool(a.confirmed_at or a.cancel_requested_at),
            "time": heure(start), "end": heure(start + dt.timedelta(minutes=a.duration)),
            "who": a.patient.display_name if a.patient_id else a.external_name,
            "patient_url": detail(a.patient_id) if a.patient_id else "",
            "nature_code": nature.code if nature else "", "nature_label": nature.label if nature else "",
            "chair_code": chair.code if chair else "", "chair_label": chair.label if chair else "",
            "state_label": label,
            "state_url": state(a.pk) if can_change else "",
            "cancel_url": cancel(a.pk) if can_change else "",
            "move_url": move(a.pk) if can_change else "",
            "other_states": [s for s in quick_states if s[0] != a.state] if can_change else [],
        })
    return slots


@staff_view("patients.view_appointment")
def planning(request):
    day = _requested_day(request)
    chairs = list(Chair.objects.filter(active=True))
    chair = next((c for c in chairs if str(c.pk) == request.GET.get("fauteuil", "")), None)
    plan = selectors.planning(day=day, chair=chair, page=request.GET.get("page"))
    can_change = request.user.has_perm("patients.change_appointment")
    for column in plan.columns:
        column.slots = planning_slots(column.appointments, can_change=can_change)
    here = request.get_full_path()
    return render(
        request,
        "patients/planning.html",
        {
            "day": day,
            "today": timezone.localdate(),
            "previous_day": day - dt.timedelta(days=1),
            "next_day": day + dt.timedelta(days=1),
            "chairs": chairs,
            "chair": chair,
            "columns": plan.columns,
            "page": plan.page,
            "count": plan.page.paginator.count,
            "here": here,
            "here_query": quote(here, safe="/"),  # as the urlencode filter would, once
        },
    )


@staff_view("patients.add_appointment", "patients.view_appointment")
def appointment_create(request):
    initial = {
        "day": _parse_day(request.GET.get("jour")),
        "time": dt.time(9, 0),
        "practitioner": request.GET.get("praticien"),
        "chair": request.GET.get("fauteuil"),
        "patient": request.GET.get("patient"),
    }
    form = forms.AppointmentForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            appointment = services.appointment_create(
                practitioner=data["practitioner"],
                start=form.start(),
                patient=data["patient"],
                external_name=data["external_name"].strip(),
                chair=data["chair"],
                nature=data["nature"],
                duration=data["duration"],
                urgent=data["urgent"],
                forced=data["forced"],
                remark=data["remark"],
            )
        except ValidationError as error:
            _add_service_error(form, error)
        else:
            messages.success(request, _("Rendez-vous pris : %(appointment)s.") % {"appointment": appointment})
            return redirect(_planning_url(timezone.localtime(appointment.start).date()))
    return render(request, "patients/appointment_form.html", {"form": form, "appointment": None})


@staff_view("patients.change_appointment", "patients.view_appointment")
def appointment_move(request, pk: int):
    appointment = get_object_or_404(
        Appointment.objects.select_related("patient", "practitioner", "chair"), pk=pk
    )
    title = str(appointment)
    form = forms.AppointmentMoveForm.for_appointment(appointment, request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.appointment_move(
                appointment=appointment,
                start=form.start(),
                practitioner=data["practitioner"],
                chair=data["chair"],
                duration=data["duration"],
                forced=data["forced"],
            )
        except ValidationError as error:
            _add_service_error(form, error)
        else:
            messages.success(request, _("Rendez-vous déplacé : %(appointment)s.") % {"appointment": appointment})
            return redirect(_planning_url(timezone.localtime(appointment.start).date()))
    return render(
        request, "patients/appointment_form.html", {"form": form, "appointment": appointment, "title": title}
    )


@require_POST
@staff_view("patients.change_appointment")
def appointment_state(request, pk: int):
    appointment = get_object_or_404(Appointment.objects.select_related("patient"), pk=pk)
    back = _safe_next(request, _planning_url(timezone.localtime(appointment.start).date()))
    form = forms.AppointmentStateForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("État de rendez-vous inconnu."))
        return HttpResponseRedirect(back)
    try:
        services.appointment_set_state(
            appointment=appointment,
            state=form.cleaned_data["state"],
            cancelled_by=form.cleaned_data["cancelled_by"],
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request, _("%(who)s : rendez-vous %(appointment_get_state_display_lower)s.") % {"who": appointment.who, "appointment_get_state_display_lower": appointment.get_state_display().lower()}
        )
    return HttpResponseRedirect(back)


@staff_view("patients.change_appointment", "patients.view_appointment")
def appointment_cancel(request, pk: int):
    appointment = get_object_or_404(
        Appointment.objects.select_related("patient", "practitioner", "chair"), pk=pk
    )
    back = _safe_next(request, _planning_url(timezone.localtime(appointment.start).date()))
    form = forms.AppointmentCancelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            if form.cleaned_data["state"] == AppointmentState.CANCELLED:
                services.appointment_cancel(
                    appointment=appointment, cancelled_by=form.cleaned_data["cancelled_by"]
                )
            else:
                services.appointment_set_state(
                    appointment=appointment,
                    state=form.cleaned_data["state"],
                    cancelled_by=form.cleaned_data["cancelled_by"],
                )
        except ValidationError as error:
            _add_service_error(form, error)
        else:
            messages.success(
                request, _("%(who)s : rendez-vous %(appointment_get_state_display_lower)s.") % {"who": appointment.who, "appointment_get_state_display_lower": appointment.get_state_display().lower()}
            )
            return HttpResponseRedirect(back)
    return render(
        request, "patients/appointment_cancel.html", {"form": form, "appointment": appointment, "back": back}
    )
