"""Reads of patients and appointments, shared by the pages and the scheduler.

Every function returns querysets whose related rows are fetched up front: the number of SQL
queries does not grow with the number of results.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from .models import Appointment, AppointmentState, Patient, normalize_search
from .phones import normalize as normalize_phone


def patient_search(*, query: str = "") -> QuerySet[Patient]:
    """Patients matching ``query``: a file number, a phone number (any usual format), or the start
    of the name ("dup", "dupont ma", accents ignored). An empty query returns every patient."""
    qs = Patient.objects.select_related("practitioner")
    query = (query or "").strip()
    if not query:
        return qs
    condition = Q(file_number=query)
    phone = normalize_phone(query) if sum(c.isdigit() for c in query) >= 6 else None
    if phone:
        condition |= Q(mobile=phone) | Q(phone=phone)
    key = normalize_search(query)
    if key:
        condition |= Q(search_key__startswith=key)
    return qs.filter(condition)


def local_day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of ``day`` in the current time zone, right on daylight-saving days."""
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return start, end


def appointments_of_day(*, day: dt.date) -> QuerySet[Appointment]:
    start, end = local_day_bounds(day)
    return (
        Appointment.objects.filter(start__gte=start, start__lt=end)
        .select_related("patient", "practitioner", "chair", "nature")
        .order_by("start", "practitioner__last_name")
    )


def day_summary(*, day: dt.date) -> dict:
    """Counts of the day's appointments by state, for the home page."""
    start, end = local_day_bounds(day)
    rows = (
        Appointment.objects.filter(start__gte=start, start__lt=end)
        .values("state")
        .annotate(n=Count("id"))
    )
    counts = {row["state"]: row["n"] for row in rows}
    return {
        "total": sum(counts.values()),
        "states": [(label, counts.get(value, 0), value) for value, label in AppointmentState.choices],
    }
