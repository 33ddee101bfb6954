"""Search criteria shared by the search pages and the scheduler's treatments.

A criteria object is plain data (it round-trips through JSON for saved treatments and remembered
searches); ``patients.selectors.appointment_search`` and ``patients.selectors.patient_criteria_search``
turn it into a queryset.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from .models import AppointmentState


@dataclass
class AppointmentCriteria:
    """ "Recherche sur les rendez-vous" of the seeds."""

    date_from: dt.date
    date_to: dt.date
    time_from: dt.time | None = None  # "Heures entre 07:00 et 21:00" (local time)
    time_to: dt.time | None = None
    practitioner_ids: list[int] = field(default_factory=list)  # empty: all
    chair_ids: list[int] = field(default_factory=list)
    family_ids: list[int] = field(default_factory=list)
    patient_type: str = ""  # "", "enfant", "adulte"
    nature_ids: list[int] = field(default_factory=list)
    states: list[str] = field(default_factory=lambda: [AppointmentState.FUTURE.value])
    cancelled_by: list[str] = field(default_factory=list)  # CancelledBy values; empty: either
    taken_in_period: bool = False  # appointments *booked* in the period rather than held in it
    without_next_appointment: bool = False  # patients with no future appointment after this one
    urgent_only: bool = False
    include_urgent: bool = True
    include_external: bool = False  # external persons (no patient file) are left out by default
    forced_only: bool = False
    # Missed-appointment follow-up (J-1) exclusions of the seeds.
    exclude_with_next_appointment: bool = False
    exclude_came_since: bool = False
    order: str = "start"  # "start", "patient", "practitioner"

    def to_json(self) -> dict[str, Any]:
        return _to_json(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AppointmentCriteria:
        return _from_json(cls, data)


@dataclass
class PatientCriteria:
    """The patient search: birthdays, ages, types, file states, recall, contact and consent."""

    birthday_from: dt.date | None = None  # birthdays whose month/day fall in [from, to]
    birthday_to: dt.date | None = None
    age_min: int | None = None
    age_max: int | None = None
    patient_type: str = ""
    file_statuses: list[str] = field(default_factory=list)
    practitioner_ids: list[int] = field(default_factory=list)
    no_appointment_since_months: int | None = None  # recall: no appointment held for N months
    has_mobile: bool | None = None
    has_email: bool | None = None
    sms_consent: bool | None = None
    email_consent: bool | None = None
    news_consent: bool | None = None
    reference_date: dt.date | None = None  # "today" for ages and recall; the run date in a treatment

    def to_json(self) -> dict[str, Any]:
        return _to_json(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PatientCriteria:
        return _from_json(cls, data)


def _to_json(obj) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, dt.date | dt.time):
            value = value.isoformat()
        out[f.name] = value
    return out


def _from_json(cls, data: dict[str, Any]):
    kwargs = {}
    hints = {f.name: f for f in dataclasses.fields(cls)}
    for name, value in data.items():
        if name not in hints:
            continue  # a field removed since the criteria were saved
        type_text = str(hints[name].type)
        if isinstance(value, str) and value and "dt.date" in type_text:
            value = dt.date.fromisoformat(value)
        elif isinstance(value, str) and value and "dt.time" in type_text:
            value = dt.time.fromisoformat(value)
        kwargs[name] = value
    return cls(**kwargs)
