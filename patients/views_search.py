"""The "Recherches" pages: appointment search and patient search, their grids and printable lists.
The searches themselves are patients.selectors.appointment_search / patient_criteria_search."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import render

from . import selectors
from .forms_search import AppointmentSearchForm, PatientSearchForm

# A day is about a hundred rows; a year of a busy practice, tens of thousands. The grid shows at
# most this many (mass mailings act on the ticked rows, so a narrower search is the way on).
MAX_ROWS = 2000


def _run(form, search):
    if not form.is_bound or not form.is_valid():
        return None, 0
    rows = list(search(criteria=form.to_criteria())[: MAX_ROWS + 1])
    truncated = len(rows) > MAX_ROWS
    return rows[:MAX_ROWS], truncated


@login_required
@permission_required("patients.view_appointment", raise_exception=True)
def appointment_search(request):
    form = AppointmentSearchForm(request.GET if "date_from" in request.GET else None)
    rows, truncated = _run(form, selectors.appointment_search)
    template = "patients/search/appointments_print.html" if request.GET.get("impression") else "patients/search/appointments.html"
    days = None
    if rows is not None:
        days = (form.cleaned_data["date_to"] - form.cleaned_data["date_from"]).days + 1
    return render(request, template, {
        "form": form, "rows": rows, "truncated": truncated, "max_rows": MAX_ROWS, "days": days,
        "query": request.GET.urlencode(),
    })


@login_required
@permission_required("patients.view_patient", raise_exception=True)
def patient_search(request):
    form = PatientSearchForm(request.GET if "rechercher" in request.GET else None)
    rows, truncated = _run(form, selectors.patient_criteria_search)
    template = "patients/search/patients_print.html" if request.GET.get("impression") else "patients/search/patients.html"
    return render(request, template, {
        "form": form, "rows": rows, "truncated": truncated, "max_rows": MAX_ROWS, "query": request.GET.urlencode(),
    })
