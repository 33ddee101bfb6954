"""The "Recherches" pages: appointment search and patient search, their grids and printable lists.
The searches themselves are patients.selectors.appointment_search / patient_criteria_search; the
ticked rows are a selection kept on the server (patients.selection)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from . import selection as sel
from .forms_search import AppointmentSearchForm, PatientSearchForm

# The grid shows the rows a page at a time; the selection (and a mass mailing) covers all of them.
PAGE_SIZE = 200
# The printable list is for paper: beyond this many rows it asks for a narrower search.
MAX_PRINTED_ROWS = 2000


def _grid(request, form, search: str) -> dict:
    """The context of a search page: the page of rows asked for, the selection of this run of
    the search (made on its first page, then named in the links to the other pages) and which of
    the page's rows it ticks. Queries: a constant number, whatever the number of rows."""
    if not form.is_bound or not form.is_valid():
        return {"rows": None}
    criteria = form.to_criteria()
    qs = sel.SEARCHES[search].run(criteria=criteria)
    if request.GET.get("impression"):
        rows = list(qs[: MAX_PRINTED_ROWS + 1])
        return {"rows": rows[:MAX_PRINTED_ROWS], "truncated": len(rows) > MAX_PRINTED_ROWS,
                "max_rows": MAX_PRINTED_ROWS}
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    selection = sel.selection_for_run(user=request.user, search=search, criteria=criteria,
                                      key=request.GET.get("selection", ""))
    sel.selection_set_total(selection, page.paginator.count)
    ticked = sel.selection_ticked(selection, [r.pk for r in rows])
    for row in rows:
        row.ticked = row.pk in ticked
    params = request.GET.copy()
    params.pop("page", None)
    params["selection"] = selection.key
    return {
        "rows": rows, "page": page, "selection": selection, "selected": sel.selection_count(selection),
        "page_query": params.urlencode(),
    }


@login_required
@permission_required("patients.view_appointment", raise_exception=True)
def appointment_search(request):
    form = AppointmentSearchForm(request.GET if "date_from" in request.GET else None)
    context = _grid(request, form, sel.SEARCH_APPOINTMENTS)
    template = "patients/search/appointments_print.html" if request.GET.get("impression") else "patients/search/appointments.html"
    days = None
    if context["rows"] is not None:
        days = (form.cleaned_data["date_to"] - form.cleaned_data["date_from"]).days + 1
    return render(request, template, {**context, "form": form, "days": days, "query": _query(request)})


@login_required
@permission_required("patients.view_patient", raise_exception=True)
def patient_search(request):
    form = PatientSearchForm(request.GET if "rechercher" in request.GET else None)
    context = _grid(request, form, sel.SEARCH_PATIENTS)
    template = "patients/search/patients_print.html" if request.GET.get("impression") else "patients/search/patients.html"
    return render(request, template, {**context, "form": form, "query": _query(request)})


def _query(request) -> str:
    """The search's criteria alone (for the printable list's link)."""
    params = request.GET.copy()
    for name in ("page", "selection"):
        params.pop(name, None)
    return params.urlencode()


@login_required
@require_POST
def selection_change(request, key):
    """One click of the grid on the selection ``key``: ``action`` tick / untick (the rows
    ``ids``, comma-separated) / all / none. Answers the new count as JSON, or an error in French
    (400, or 404 for a selection that is not the user's or has expired)."""
    selection = sel.selection_get(key=key, user=request.user)
    if selection is None:
        return JsonResponse({"error": gettext("Cette sélection a expiré : relancez la recherche.")}, status=404)
    raw = request.POST.get("ids", "")
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    # ASCII digits only ("²" is a digit to str.isdigit), and an id a row can have (a bigint).
    if not all(p.isascii() and p.isdigit() and len(p) < 19 for p in parts):
        return JsonResponse({"error": gettext("Lignes invalides.")}, status=400)
    try:
        sel.selection_change(selection=selection, action=request.POST.get("action", ""), ids=[int(p) for p in parts])
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"selected": sel.selection_count(selection), "total": selection.total,
                         "all": selection.all_rows})
