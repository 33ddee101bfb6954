"""Reads of patients and appointments, shared by the pages and the scheduler.

Every function returns querysets whose related rows are fetched up front: the number of SQL
queries does not grow with the number of results.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from .models import (
    Appointment,
    AppointmentState,
    Chair,
    CorrespondentLink,
    Guardian,
    Patient,
    PatientCorrespondent,
    Practitioner,
    normalize_search,
)
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
    rows = Appointment.objects.filter(start__gte=start, start__lt=end).values("state").annotate(n=Count("id"))
    counts = {row["state"]: row["n"] for row in rows}
    return {
        "total": sum(counts.values()),
        "states": [(label, counts.get(value, 0), value) for value, label in AppointmentState.choices],
    }


def patient_file(*, pk: int) -> Patient:
    """The patient for the administrative file, with practitioner, family, guardians,
    correspondents (and their relationships with the practitioners) and images loaded up front.
    Raises Http404."""
    qs = Patient.objects.select_related(
        "practitioner", "family", "civil_guardian", "financial_guardian"
    ).prefetch_related(
        Prefetch(
            "correspondent_links",
            queryset=PatientCorrespondent.objects.select_related("correspondent")
            .prefetch_related(
                Prefetch(
                    "correspondent__relationships",
                    queryset=CorrespondentLink.objects.select_related("practitioner"),
                )
            )
            .order_by("correspondent__last_name", "correspondent__first_name"),
        ),
        "images",
    )
    return get_object_or_404(qs, pk=pk)


def family_members(*, patient: Patient) -> QuerySet[Patient]:
    """The other members of ``patient``'s family, youngest last (none without a family)."""
    if not patient.family_id:
        return Patient.objects.none()
    return (
        Patient.objects.filter(family_id=patient.family_id)
        .exclude(pk=patient.pk)
        .order_by(F("birth_date").asc(nulls_last=True), "first_name")
    )


def upcoming_appointments(*, patient: Patient, limit: int = 5) -> QuerySet[Appointment]:
    """The patient's next appointments from now on, soonest first."""
    return (
        Appointment.objects.filter(patient=patient, start__gte=timezone.now())
        .select_related("practitioner", "chair", "nature")
        .order_by("start")[:limit]
    )


def guardian_search(*, query: str, limit: int = 10) -> QuerySet[Guardian]:
    """Guardians whose name starts with ``query`` (or whose phone is ``query``), for the picker."""
    query = (query or "").strip()
    if not query:
        return Guardian.objects.none()
    condition = Q(last_name__istartswith=query)
    words = query.split()
    if len(words) > 1:
        condition |= Q(last_name__istartswith=words[0], first_name__istartswith=" ".join(words[1:]))
    phone = normalize_phone(query) if sum(c.isdigit() for c in query) >= 6 else None
    if phone:
        condition |= Q(mobile=phone) | Q(phone=phone)
    return Guardian.objects.filter(condition).order_by("last_name", "first_name", "id")[:limit]


def appointment_overlaps(
    *,
    start: dt.datetime,
    end: dt.datetime,
    practitioner: Practitioner,
    chair: Chair | None,
    exclude_pk: int | None = None,
) -> list[Appointment]:
    """Live appointments (not cancelled or postponed) of ``practitioner`` or in ``chair`` that
    overlap [start, end)."""
    # No appointment lasts longer than 480 min: bounding the start keeps the query on the index.
    qs = Appointment.objects.filter(start__lt=end, start__gt=start - dt.timedelta(minutes=480)).exclude(
        state__in=[AppointmentState.CANCELLED, AppointmentState.POSTPONED]
    )
    who = Q(practitioner=practitioner)
    if chair is not None:
        who |= Q(chair=chair)
    qs = qs.filter(who).select_related("patient", "practitioner", "chair").order_by("start")
    if exclude_pk:
        qs = qs.exclude(pk=exclude_pk)
    return [a for a in qs if a.end > start]


@dataclass
class PlanningColumn:
    practitioner: Practitioner
    appointments: list[Appointment] = field(default_factory=list)


def planning(*, day: dt.date, chair: Chair | None = None) -> list[PlanningColumn]:
    """The day's planning: one column per active practitioner (and any other practitioner with an
    appointment that day), each with its appointments in time order; only ``chair``'s when given.
    Two queries whatever the number of appointments."""
    appointments = appointments_of_day(day=day)
    if chair is not None:
        appointments = appointments.filter(chair=chair)
    columns: dict[int, PlanningColumn] = {
        p.pk: PlanningColumn(p)
        for p in Practitioner.objects.filter(active=True).order_by("last_name", "first_name")
    }
    for appointment in appointments:
        column = columns.get(appointment.practitioner_id)
        if column is None:
            column = columns[appointment.practitioner_id] = PlanningColumn(appointment.practitioner)
        column.appointments.append(appointment)
    return list(columns.values())
