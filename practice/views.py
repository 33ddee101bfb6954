from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone

from patients import selectors as patient_selectors


@login_required
def home(request):
    today = timezone.localdate()
    return render(
        request,
        "practice/home.html",
        {"today": today, "day_summary": patient_selectors.day_summary(day=today)},
    )


def permission_denied(request, exception=None):
    reason = str(exception) if exception and str(exception) else ""
    return render(request, "403.html", {"reason": reason}, status=403)
