"""Reads of patients and appointments, shared by the pages and the scheduler.

Every function returns querysets whose related rows are fetched up front: the number of SQL
queries does not grow with the number of results.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.core.paginator import Page, Paginator
from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from practice.bulk import among, instance_builder, values_rows

from .models import (
    Appointment,
    AppointmentState,
    Chair,
    CorrespondentLink,
    Guardian,
    Nature,
    Patient,
    PatientCorrespondent,
    Practitioner,
    normalize_search,
)
from .phones import normalize as normalize_phone


def patient_search(*, query: str = "") -> QuerySet[Patient]:
    """Patients matching ``query``: a file number, a phone number (any usual format), or the start
    of the name in either order ("dup", "dupont ma", "élodie", "elodie merc", accents ignored).
    An empty query returns every patient. One query; each prefix is served by its own index."""
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
        condition |= Q(search_key__startswith=key) | Q(search_key_first__startswith=key)
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


def correspondent_links_prefetch() -> Prefetch:
    """The patients' correspondents (by name) with their relationships with the practitioners
    (what @LIBRE fields read): two queries for any number of patients, with ``prefetch_related``
    or ``prefetch_related_objects``."""
    return Prefetch(
        "correspondent_links",
        queryset=PatientCorrespondent.objects.select_related("correspondent")
        .prefetch_related(
            Prefetch("correspondent__relationships", queryset=CorrespondentLink.objects.select_related("practitioner"))
        )
        .order_by("correspondent__last_name", "correspondent__first_name"),
    )


def patient_file(*, pk: int) -> Patient:
    """The patient for the administrative file, with practitioner, family, guardians,
    correspondents (and their relationships with the practitioners) and images loaded up front.
    Raises Http404."""
    qs = Patient.objects.select_related(
        "practitioner", "family", "civil_guardian", "financial_guardian"
    ).prefetch_related(correspondent_links_prefetch(), "images")
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
    """The patient's next appointments from now on, soonest first, with their history (the
    patient's SMS answers, ``events``)."""
    return (
        Appointment.objects.filter(patient=patient, start__gte=timezone.now())
        .select_related("practitioner", "chair", "nature")
        .prefetch_related("events")
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
    slots: list = field(default_factory=list)  # the rows as the page shows them (patients.views.planning_slots)


# A busy day can hold thousands of appointments (3,952 on the bench's busiest): the planning
# shows them this many at a time, in time order, so the page stays small and quick.
PLANNING_PAGE = 100
# What the planning reads of each appointment's patient.
PLANNING_PATIENT_FIELDS = {"id", "last_name", "first_name"}


@dataclass
class Planning:
    columns: list[PlanningColumn]
    page: Page  # of the day's appointments in time order; page.paginator.count is the day's total


def planning(*, day: dt.date, chair: Chair | None = None, page: int | str | None = 1,
             per_page: int = PLANNING_PAGE) -> Planning:
    """The day's planning: one column per active practitioner (and any other practitioner with an
    appointment on the page), each with its appointments in time order; only ``chair``'s when
    given. ``page`` (a number, or the raw query value: anything invalid gives the nearest page)
    picks which ``per_page`` appointments of the day, in time order. Three queries whatever the
    number of appointments (practitioners, count, the page)."""
    # Of a patient the planning shows the name only: loading their whole file (about forty
    # columns) for each row cost as much as the rest of the query.
    appointments = appointments_of_day(day=day).defer(
        *(f"patient__{f.name}" for f in Patient._meta.concrete_fields if f.name not in PLANNING_PATIENT_FIELDS)
    )
    if chair is not None:
        appointments = appointments.filter(chair=chair)
    current = Paginator(appointments, per_page).get_page(page)
    columns: dict[int, PlanningColumn] = {
        p.pk: PlanningColumn(p)
        for p in Practitioner.objects.filter(active=True).order_by("last_name", "first_name")
    }
    for appointment in current:
        column = columns.get(appointment.practitioner_id)
        if column is None:
            column = columns[appointment.practitioner_id] = PlanningColumn(appointment.practitioner)
        column.appointments.append(appointment)
    return Planning(list(columns.values()), current)


# =============================================================================================
# Searches of the "Recherches" pages and the scheduler (issue 5: searches and mass mailing).
# Both take the plain-data criteria of patients.criteria and return one lazily evaluated
# queryset: one SQL query for the rows whatever their number (related rows joined, the derived
# patient type and the "next appointment" computed in SQL).
# =============================================================================================

from django.db.models import Case, CharField, Exists, IntegerField, OuterRef, Subquery, Value, When  # noqa: E402
from django.db.models.functions import ExtractDay, ExtractMonth, ExtractYear  # noqa: E402
from django.db.models.lookups import GreaterThan  # noqa: E402

from .criteria import AppointmentCriteria, PatientCriteria  # noqa: E402
from .models import ADULT_AGE, CancelledBy, PatientType  # noqa: E402

APPOINTMENT_ORDERS = {
    "start": ("start", "practitioner__initials", "id"),
    "patient": ("patient__last_name", "patient__first_name", "start", "id"),
    "practitioner": ("practitioner__last_name", "practitioner__first_name", "start", "id"),
}


def years_before(day: dt.date, years: int) -> dt.date:
    """The same calendar day ``years`` earlier; 29 February becomes 28 February in a common year.

    ``age_on(b, day) >= n`` exactly when ``b <= years_before(day, n)``: the SQL of the searches
    compares birth dates with it instead of computing ages row by row."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February -> common year
        return day.replace(year=day.year - years, day=28)


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` earlier, clamped to the end of a shorter month (31/05 - 3 -> 28/02)."""
    index = day.year * 12 + (day.month - 1) - months
    year, month = divmod(index, 12)
    month += 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)  # unreachable: every month has 28 days


def _age_at_appointment():
    """The patient's age in whole years on the appointment's local date, in SQL (NULL without a
    birth date). A 29 February birthday counts on 1 March in common years, like ``age_on``."""
    years = ExtractYear("start") - ExtractYear("patient__birth_date")
    appt_md = ExtractMonth("start") * 100 + ExtractDay("start")
    birth_md = ExtractMonth("patient__birth_date") * 100 + ExtractDay("patient__birth_date")
    return years - Case(When(GreaterThan(birth_md, appt_md), then=Value(1)), default=Value(0), output_field=IntegerField())


def _effective_type_at_appointment():
    """The patient type as set on the file, else derived from the age on the appointment's date
    (a child under 18; no birth date counts as an adult, as ``Patient.effective_type`` does)."""
    return Case(
        When(patient__isnull=True, then=Value("")),
        When(~Q(patient__patient_type=""), then=F("patient__patient_type")),
        When(patient__birth_date__isnull=True, then=Value(PatientType.ADULT.value)),
        When(GreaterThan(Value(ADULT_AGE), _age_at_appointment()), then=Value(PatientType.CHILD.value)),
        default=Value(PatientType.ADULT.value),
        output_field=CharField(),
    )


def _later_appointment(state: str):
    """An appointment of the same patient, in ``state``, starting after the outer one."""
    return Appointment.objects.filter(patient_id=OuterRef("patient_id"), state=state, start__gt=OuterRef("start"))


def appointment_search(*, criteria: AppointmentCriteria) -> QuerySet[Appointment]:
    """The appointments matching ``criteria`` ("Recherche sur les rendez-vous"), sorted.

    Contract, criterion by criterion:
    - ``date_from``..``date_to``: whole local days (Europe/Paris), both included, right on the
      daylight-saving days (23 or 25 hours). With ``taken_in_period`` the days bound the booking
      time (``created_at``) instead of the appointment's start.
    - ``time_from``/``time_to``: the local start time, both bounds included.
    - ``practitioner_ids``, ``chair_ids``, ``nature_ids``, ``family_ids`` (the patient's family):
      empty means all.
    - ``patient_type``: the type set on the file, else derived from the age on the appointment's
      date (adult at 18). Appointments of external persons have no type and never match it.
    - ``states``: empty means all. ``cancelled_by`` narrows the cancelled and postponed ones to
      those cancelled by the practice and/or by the patient; other states are unaffected.
    - ``without_next_appointment`` and ``exclude_with_next_appointment`` (same rule, the first is
      the search page's box, the second the missed-appointment treatment's): leave out
      appointments whose patient has a FUTURE appointment starting after this one.
      ``exclude_came_since``: leave out those whose patient has a PRESENT appointment after it.
    - ``urgent_only``; ``include_urgent`` False leaves urgent ones out; ``include_external`` False
      leaves out external appointments and those of persons without a patient file;
      ``forced_only``.
    - ``order``: "start" (then practitioner), "patient" or "practitioner" (then start).

    Each row has ``patient``, its guardians and practitioner, ``practitioner``, ``chair`` and
    ``nature`` joined, and ``effective_patient_type`` annotated: one query for any number of rows.
    """
    c = criteria
    start, _ = local_day_bounds(c.date_from)
    _, end = local_day_bounds(c.date_to)
    when = "created_at" if c.taken_in_period else "start"
    qs = Appointment.objects.filter(**{f"{when}__gte": start, f"{when}__lt": end})
    if c.time_from is not None:
        qs = qs.filter(start__time__gte=c.time_from)
    if c.time_to is not None:
        qs = qs.filter(start__time__lte=c.time_to)
    if c.practitioner_ids:
        qs = qs.filter(practitioner_id__in=c.practitioner_ids)
    if c.chair_ids:
        qs = qs.filter(chair_id__in=c.chair_ids)
    if c.nature_ids:
        qs = qs.filter(nature_id__in=c.nature_ids)
    if c.family_ids:
        qs = qs.filter(patient__family_id__in=c.family_ids)
    if c.states:
        qs = qs.filter(state__in=c.states)
    if c.cancelled_by:
        cancelled_states = [AppointmentState.CANCELLED, AppointmentState.POSTPONED]
        valid = [v for v in c.cancelled_by if v in CancelledBy.values]
        qs = qs.filter(~Q(state__in=cancelled_states) | Q(cancelled_by__in=valid))
    if c.urgent_only:
        qs = qs.filter(urgent=True)
    elif not c.include_urgent:
        qs = qs.filter(urgent=False)
    if not c.include_external:
        qs = qs.filter(external=False, patient__isnull=False)
    if c.forced_only:
        qs = qs.filter(forced=True)
    if c.without_next_appointment or c.exclude_with_next_appointment:
        qs = qs.exclude(Exists(_later_appointment(AppointmentState.FUTURE)))
    if c.exclude_came_since:
        qs = qs.exclude(Exists(_later_appointment(AppointmentState.PRESENT)))
    qs = qs.annotate(effective_patient_type=_effective_type_at_appointment())
    if c.patient_type:
        qs = qs.filter(effective_patient_type=c.patient_type)
    order = APPOINTMENT_ORDERS.get(c.order, APPOINTMENT_ORDERS["start"])
    return qs.select_related(
        "patient",
        "patient__practitioner",
        "patient__civil_guardian",
        "patient__financial_guardian",
        "practitioner",
        "chair",
        "nature",
    ).order_by(*order)


def birthday_month_days(day_from: dt.date, day_to: dt.date) -> set[int] | None:
    """The birthdays (month * 100 + day) celebrated between ``day_from`` and ``day_to`` included.

    The rule for 29 February: in a common year it is celebrated on 28 February, so 229 is in the
    set whenever the range holds a 28 February of a common year (or a 29 February). A range
    crossing the new year (20/12 -> 10/01) is one range, not an empty one. None means every day
    of the year (a range of a year or more); an empty set, a range that ends before it starts.
    """
    if day_to < day_from:
        return set()
    if (day_to - day_from).days >= 365:
        return None
    days: set[int] = set()
    current = day_from
    while current <= day_to:
        days.add(current.month * 100 + current.day)
        if current.month == 2 and current.day == 28 and not _is_leap(current.year):
            days.add(229)
        current += dt.timedelta(days=1)
    return days


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _last_visit():
    return (
        Appointment.objects.filter(patient_id=OuterRef("pk"), state=AppointmentState.PRESENT)
        .order_by("-start")
        .values("start")[:1]
    )


def patient_criteria_search(*, criteria: PatientCriteria) -> QuerySet[Patient]:
    """The patients matching ``criteria`` ("Recherche de patients"), by name.

    Ages, types and the recall are computed on ``reference_date`` (today when None; a
    treatment passes its run date):
    - ``birthday_from``..``birthday_to``: see ``birthday_month_days`` (29 February on 28 February
      in common years; ranges crossing the new year).
    - ``age_min``/``age_max``: whole years, both included; patients without a birth date never
      match an age criterion.
    - ``patient_type``: set on the file, else derived from the age (adult at 18).
    - ``file_statuses``, ``practitioner_ids``: empty means all.
    - ``no_appointment_since_months`` N: no PRESENT appointment (a visit held) in the last N
      months before the reference date, including patients never seen.
    - ``has_mobile``/``has_email``: the patient's own mobile / email (None: either).
    - ``sms_consent``/``email_consent``/``news_consent``: the consent flags (None: either).

    Rows come with practitioner, family and guardians joined and ``last_visit`` (start of the
    last PRESENT appointment) annotated: one query for any number of rows.
    """
    c = criteria
    ref = c.reference_date or timezone.localdate()
    qs = Patient.objects.all()
    if c.birthday_from is not None and c.birthday_to is not None:
        days = birthday_month_days(c.birthday_from, c.birthday_to)
        qs = qs.filter(birth_date__isnull=False)
        if days is not None:
            qs = qs.annotate(
                birthday_md=ExtractMonth("birth_date") * 100 + ExtractDay("birth_date")
            ).filter(birthday_md__in=sorted(days))
    if c.age_min is not None:
        qs = qs.filter(birth_date__lte=years_before(ref, c.age_min))
    if c.age_max is not None:
        # Younger than age_max + 1: born after that many years before the reference date.
        qs = qs.filter(birth_date__gt=years_before(ref, c.age_max + 1))
    if c.patient_type:
        child_born_after = years_before(ref, ADULT_AGE)
        is_child = Q(patient_type=PatientType.CHILD) | Q(patient_type="", birth_date__gt=child_born_after)
        qs = qs.filter(is_child if c.patient_type == PatientType.CHILD else ~is_child)
    if c.file_statuses:
        qs = qs.filter(file_status__in=c.file_statuses)
    if c.practitioner_ids:
        qs = qs.filter(practitioner_id__in=c.practitioner_ids)
    if c.no_appointment_since_months is not None:
        since = months_before(ref, c.no_appointment_since_months)
        since_start, _ = local_day_bounds(since)
        _, ref_end = local_day_bounds(ref)
        recent_visit = Appointment.objects.filter(
            patient_id=OuterRef("pk"), state=AppointmentState.PRESENT, start__gte=since_start, start__lt=ref_end
        )
        qs = qs.exclude(Exists(recent_visit))
    for flag, field_name in ((c.has_mobile, "mobile"), (c.has_email, "email")):
        if flag is True:
            qs = qs.exclude(**{field_name: ""})
        elif flag is False:
            qs = qs.filter(**{field_name: ""})
    for flag, field_name in (
        (c.sms_consent, "sms_consent"),
        (c.email_consent, "email_consent"),
        (c.news_consent, "news_consent"),
    ):
        if flag is not None:
            qs = qs.filter(**{field_name: flag})
    return (
        qs.annotate(last_visit=Subquery(_last_visit()))
        .select_related("practitioner", "family", "civil_guardian", "financial_guardian")
        .order_by("last_name", "first_name", "id")
    )


# ---------------------------------------------------------------------------------------------
# Rows to write to: thousands of patients and appointments loaded for the merge
# ---------------------------------------------------------------------------------------------

# Columns no message reads, left out when loading the rows of a mailing: converting timestamps
# was a third of the time of loading 10,000 appointments with their patients.
MESSAGE_DEFERRED_PATIENT = ("remark", "search_key", "search_key_first", "created_at", "updated_at")
MESSAGE_DEFERRED_APPOINTMENT = ("remark", "created_at", "updated_at")


def _pk_among(ids):
    return among("pk", ids)


def _loaded_fields(model, deferred: tuple[str, ...]) -> list:
    return [f for f in model._meta.concrete_fields if f.name not in deferred]


def attach_for_messages(*, appointments=(), patients=()) -> None:
    """Set on each appointment its practitioner, chair and nature, and on each patient its
    practitioner and guardians, as ``select_related`` would, from one query per table:
    practitioners, chairs and natures are a few dozen rows shared by thousands, which a join
    would send and convert again for every row."""
    appointments, patients = list(appointments), list(patients)
    if not appointments and not patients:
        return
    practitioner = Practitioner.objects.in_bulk().get
    guardian_ids = {p.civil_guardian_id for p in patients} | {p.financial_guardian_id for p in patients}
    guardian_ids.discard(None)
    guardian = _guardians(guardian_ids).get
    if appointments:
        chair, nature = Chair.objects.in_bulk().get, Nature.objects.in_bulk().get
        for a in appointments:
            a._state.fields_cache.update(
                practitioner=practitioner(a.practitioner_id), chair=chair(a.chair_id), nature=nature(a.nature_id)
            )
    for p in patients:
        p._state.fields_cache.update(
            practitioner=practitioner(p.practitioner_id),
            civil_guardian=guardian(p.civil_guardian_id),
            financial_guardian=guardian(p.financial_guardian_id),
        )


# The columns _builder needs to attach the relations.
_APPOINTMENT_KEYS = ("id", "patient_id", "practitioner_id", "chair_id", "nature_id")
_PATIENT_KEYS = ("id", "practitioner_id", "civil_guardian_id", "financial_guardian_id")


def appointments_for_messages(ids, *, patient_fields=None, appointment_fields=None) -> dict[int, Appointment]:
    """{id: appointment} of the appointments ``ids`` that have a patient, with everything a
    message about them reads (patient, guardians, practitioners, chair, nature) loaded up front
    in six queries, whatever their number. The columns no message reads are deferred; with
    ``patient_fields`` / ``appointment_fields`` (attnames, ``messaging.merge.message_fields``),
    only those are loaded (the others are deferred: read, each costs a query).

    Appointments and patients come from two queries by primary key rather than one join: for
    10,000 appointments PostgreSQL chose to hash-join a scan of the whole patient table, three
    times slower than two index scans. Two appointments of one patient share its instance."""
    _count, appointments = appointments_for_messages_lazily(
        ids, patient_fields=patient_fields, appointment_fields=appointment_fields
    )
    return {a.pk: a for a in appointments}


def appointments_for_messages_lazily(
    ids, *, patient_fields=None, appointment_fields=None
) -> tuple[int, Iterator[Appointment]]:
    """As ``appointments_for_messages``, but the appointments in the order of ``ids`` (each
    once) and how many: the rows are fetched now, the instances built as they are iterated (a
    mailing composes and writes the first messages meanwhile)."""
    names = _attnames(Appointment, MESSAGE_DEFERRED_APPOINTMENT, appointment_fields, _APPOINTMENT_KEYS)
    rows, db = _rows(Appointment, names, ids, patient__isnull=False)
    if not rows:
        return 0, iter(())
    patient_at, pk_at = names.index("patient_id"), names.index("id")
    practitioners = Practitioner.objects.in_bulk()
    patients = _BuiltOnDemand(*_patient_rows({row[patient_at] for row in rows}, practitioners, patient_fields))
    # A patient deleted between the two queries takes its appointments with it (CASCADE).
    by_id = {row[pk_at]: row for row in rows if row[patient_at] in patients.rows}
    order = [i for i in dict.fromkeys(ids) if i in by_id]
    build = _builder(Appointment, names, db, {
        "patient": ("patient_id", patients),
        "practitioner": ("practitioner_id", practitioners),
        "chair": ("chair_id", Chair.objects.in_bulk()),
        "nature": ("nature_id", Nature.objects.in_bulk()),
    })
    return len(order), (build(by_id[i]) for i in order)


def patients_for_messages(ids, *, fields=None) -> dict[int, Patient]:
    """{id: patient} of the patients ``ids``, with their practitioner and guardians loaded up
    front (three queries whatever their number); only the columns ``fields`` when given."""
    patients = _BuiltOnDemand(*_patient_rows(ids, Practitioner.objects.in_bulk(), fields))
    return {pk: patients.get(pk) for pk in patients.rows}


def _patient_rows(ids, practitioners: dict, fields=None) -> tuple[dict[int, tuple], Callable]:
    """The rows of the patients ``ids`` by id, and the function building a patient (with its
    practitioner and guardians) from its row; guardians are fetched and built now."""
    names = _attnames(Patient, MESSAGE_DEFERRED_PATIENT, fields, _PATIENT_KEYS)
    rows, db = _rows(Patient, names, ids)
    civil_at, financial_at, pk_at = (names.index(n) for n in ("civil_guardian_id", "financial_guardian_id", "id"))
    guardian_ids = {row[civil_at] for row in rows} | {row[financial_at] for row in rows}
    guardian_ids.discard(None)
    guardians = _guardians(guardian_ids)
    return {row[pk_at]: row for row in rows}, _builder(Patient, names, db, {
        "practitioner": ("practitioner_id", practitioners),
        "civil_guardian": ("civil_guardian_id", guardians),
        "financial_guardian": ("financial_guardian_id", guardians),
    })


class _BuiltOnDemand(dict):
    """{id: instance} of ``rows`` ({id: row}), each built by ``build`` the first time it is
    asked for with ``get`` (how ``_builder`` looks relations up)."""

    def __init__(self, rows: dict[int, tuple], build: Callable[[tuple], object]):
        super().__init__()
        self.rows, self._build = rows, build

    def get(self, key, default=None):
        instance = dict.get(self, key)
        if instance is None:
            row = self.rows.get(key)
            if row is None:
                return default
            instance = self[key] = self._build(row)
        return instance


def _guardians(ids) -> dict[int, Guardian]:
    if not ids:
        return {}
    names = _attnames(Guardian, (), None, ())
    return _build(Guardian, names, *_rows(Guardian, names, ids))


def _attnames(model, deferred: tuple[str, ...], fields, keys: tuple[str, ...]) -> list[str]:
    """The attnames to load: ``fields`` and ``keys`` when ``fields`` is given, else all but
    ``deferred``. Unknown names raise ValueError."""
    if fields is None:
        return [f.attname for f in _loaded_fields(model, deferred)]
    names = list(dict.fromkeys([*keys, *fields]))
    unknown = set(names) - {f.attname for f in model._meta.concrete_fields}
    if unknown:
        raise ValueError(f"Unknown {model.__name__} columns: {sorted(unknown)}")
    return names


def _rows(model, names: list[str], ids, **filters) -> tuple[list[tuple], str]:
    """The rows (``names`` values) of ``model`` for ``ids`` (and ``filters``) in one query, and
    the database alias."""
    queryset = model.objects.filter(_pk_among(ids), **filters).order_by().values_list(*names)
    return values_rows(queryset), queryset.db


def _build(model, names: list[str], rows: list[tuple], db: str) -> dict:
    """{pk: instance} of ``rows``."""
    pk_at = names.index(model._meta.pk.attname)
    build = instance_builder(model, names, db)
    return {row[pk_at]: build(row) for row in rows}


def _builder(model, names: list[str], db: str, related: dict) -> Callable[[tuple], object]:
    """The function building an instance of ``model`` from a row. ``related`` maps relation
    names to (the attname of their id, {id: instance}): each instance's relation cache is
    filled from its row, as ``select_related`` would, with no descriptor call."""
    lookups = [(name, names.index(attname), objects.get) for name, (attname, objects) in related.items()]
    from_row = instance_builder(model, names, db)

    def build(row):
        instance = from_row(row)
        instance._state.fields_cache = {name: get(row[at]) for name, at, get in lookups}
        return instance

    return build


def following_appointments(pairs) -> dict[tuple[int, int | None], Appointment | bool]:
    """@PROCHRDV for many messages in one query: for each (patient, appointment or None), the
    patient's first FUTURE appointment after that appointment (after now without one), keyed
    by (patient id, appointment id or None); False when there is none."""
    now = timezone.now()
    afters = {(p.pk, a.pk if a is not None else None): (a.start if a is not None else now) for p, a in pairs}
    if not afters:
        return {}
    by_patient: dict[int, list[Appointment]] = {}
    qs = Appointment.objects.filter(
        among("patient_id", {patient_id for patient_id, _ in afters}),
        state=AppointmentState.FUTURE,
        start__gt=min(afters.values()),
    ).order_by("start")
    for appointment in qs:
        by_patient.setdefault(appointment.patient_id, []).append(appointment)
    return {
        key: next((a for a in by_patient.get(key[0], ()) if a.start > after), False) for key, after in afters.items()
    }
