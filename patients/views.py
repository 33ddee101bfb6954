from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.shortcuts import render

from . import selectors


@login_required
@permission_required("patients.view_patient", raise_exception=True)
def patient_list(request):
    query = request.GET.get("q", "").strip()
    paginator = Paginator(selectors.patient_search(query=query), 50)
    page = paginator.get_page(request.GET.get("page"))
    return render(request, "patients/patient_list.html", {"page": page, "query": query})
