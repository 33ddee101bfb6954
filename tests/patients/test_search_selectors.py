"""appointment_search and patient_criteria_search, criterion by criterion, on purpose-built data."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from patients.criteria import AppointmentCriteria, PatientCriteria
from patients.models import AppointmentState, CancelledBy, FileStatus, Patient, PatientType
from patients.selectors import (
    appointment_search,
    birthday_month_days,
    months_before,
    patient_criteria_search,
    years_before,
)
from tests.factories import (
    AppointmentFactory,
    ChairFactory,
    FamilyFactory,
    NatureFactory,
    PatientFactory,
    PractitionerFactory,
)

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
DAY = dt.date(2024, 6, 12)


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=PARIS)


def ids(qs) -> set[int]:
    return {obj.pk for obj in qs}


def search(**kwargs):
    kwargs.setdefault("date_from", DAY)
    kwargs.setdefault("date_to", DAY)
    kwargs.setdefault("states", [])
    return appointment_search(criteria=AppointmentCriteria(**kwargs))


pytestmark = pytest.mark.django_db


# --- dates, hours, daylight saving -------------------------------------------------------------


def test_date_range_covers_whole_local_days():
    inside = AppointmentFactory(start=at(DAY, 0, 0))
    late = AppointmentFactory(start=at(DAY, 23, 59))
    before = AppointmentFactory(start=at(DAY - dt.timedelta(days=1), 23, 59))
    after = AppointmentFactory(start=at(DAY + dt.timedelta(days=1), 0, 0))
    assert ids(search()) == {inside.pk, late.pk}
    assert ids(search(date_to=DAY + dt.timedelta(days=1))) == {inside.pk, late.pk, after.pk}
    assert before.pk not in ids(search(date_to=DAY + dt.timedelta(days=1)))


@pytest.mark.parametrize(
    "day",
    [dt.date(2024, 3, 31), dt.date(2024, 10, 27)],
    ids=["spring-forward-23h", "fall-back-25h"],
)
def test_daylight_saving_days_are_whole_days(day):
    first = AppointmentFactory(start=at(day, 0, 30))
    last = AppointmentFactory(start=at(day, 23, 30))
    prev = AppointmentFactory(start=at(day - dt.timedelta(days=1), 23, 30))
    nxt = AppointmentFactory(start=at(day + dt.timedelta(days=1), 0, 30))
    found = ids(search(date_from=day, date_to=day))
    assert found == {first.pk, last.pk}
    assert prev.pk not in found and nxt.pk not in found


def test_hour_range_is_local_time_both_bounds_included():
    # 07:00 Paris in summer is 05:00 UTC: a UTC comparison would get this wrong.
    seven = AppointmentFactory(start=at(DAY, 7, 0))
    nine = AppointmentFactory(start=at(DAY, 21, 0))
    early = AppointmentFactory(start=at(DAY, 6, 59))
    late = AppointmentFactory(start=at(DAY, 21, 1))
    found = ids(search(time_from=dt.time(7), time_to=dt.time(21)))
    assert found == {seven.pk, nine.pk}
    assert early.pk not in found and late.pk not in found


def test_taken_in_period_uses_booking_time():
    booked_today_for_later = AppointmentFactory(start=at(DAY + dt.timedelta(days=30), 10), created_at=at(DAY, 9))
    held_today_booked_before = AppointmentFactory(start=at(DAY, 10), created_at=at(DAY - dt.timedelta(days=20), 9))
    assert ids(search(taken_in_period=True)) == {booked_today_for_later.pk}
    assert ids(search()) == {held_today_booked_before.pk}


# --- who, where, what ----------------------------------------------------------------------------


def test_practitioner_chair_nature_family():
    mm = PractitionerFactory(initials="MM")
    cc = PractitionerFactory(initials="CC", last_name="Canine")
    f1, f2 = ChairFactory(code="F1"), ChairFactory(code="F2")
    np_, ctl = NatureFactory(code="NP"), NatureFactory(code="CTL", label="Contrôle")
    family = FamilyFactory()
    a = AppointmentFactory(start=at(DAY, 9), practitioner=mm, chair=f1, nature=np_, patient__family=family)
    b = AppointmentFactory(start=at(DAY, 10), practitioner=cc, chair=f2, nature=ctl)
    assert ids(search(practitioner_ids=[mm.pk])) == {a.pk}
    assert ids(search(practitioner_ids=[mm.pk, cc.pk])) == {a.pk, b.pk}
    assert ids(search(chair_ids=[f2.pk])) == {b.pk}
    assert ids(search(nature_ids=[ctl.pk])) == {b.pk}
    assert ids(search(family_ids=[family.pk])) == {a.pk}


def test_patient_type_set_or_derived_from_age_on_the_appointment_date():
    # Turns 18 the day after the appointment: still a child at the appointment.
    almost = AppointmentFactory(start=at(DAY, 9), patient__birth_date=dt.date(2006, 6, 13))
    # Turns 18 on the appointment day: an adult.
    just = AppointmentFactory(start=at(DAY, 10), patient__birth_date=dt.date(2006, 6, 12))
    # Set as a child on the file whatever the age.
    set_child = AppointmentFactory(
        start=at(DAY, 11), patient__birth_date=dt.date(1970, 1, 1), patient__patient_type=PatientType.CHILD
    )
    no_birth = AppointmentFactory(start=at(DAY, 12), patient__birth_date=None)
    children = search(patient_type=PatientType.CHILD)
    assert ids(children) == {almost.pk, set_child.pk}
    assert ids(search(patient_type=PatientType.ADULT)) == {just.pk, no_birth.pk}
    assert {a.effective_patient_type for a in children} == {"enfant"}


def test_states_and_cancelled_by():
    futur = AppointmentFactory(start=at(DAY, 8), state=AppointmentState.FUTURE)
    missed = AppointmentFactory(start=at(DAY, 9), state=AppointmentState.MISSED)
    by_practice = AppointmentFactory(
        start=at(DAY, 10), state=AppointmentState.CANCELLED, cancelled_by=CancelledBy.PRACTICE
    )
    by_patient = AppointmentFactory(start=at(DAY, 11), state=AppointmentState.CANCELLED, cancelled_by=CancelledBy.PATIENT)
    postponed = AppointmentFactory(start=at(DAY, 12), state=AppointmentState.POSTPONED, cancelled_by=CancelledBy.PATIENT)
    assert ids(search(states=["futur"])) == {futur.pk}
    assert ids(search(states=["futur", "manque"])) == {futur.pk, missed.pk}
    assert ids(search()) == {futur.pk, missed.pk, by_practice.pk, by_patient.pk, postponed.pk}
    assert ids(search(states=["annule", "reporte"], cancelled_by=["patient"])) == {by_patient.pk, postponed.pk}
    assert ids(search(states=["annule", "futur"], cancelled_by=["cabinet"])) == {by_practice.pk, futur.pk}


def test_urgent_external_forced():
    plain = AppointmentFactory(start=at(DAY, 8))
    urgent = AppointmentFactory(start=at(DAY, 9), urgent=True)
    external = AppointmentFactory(start=at(DAY, 10), external=True)
    no_file = AppointmentFactory(start=at(DAY, 11), patient=None, external_name="Livreur Dupont")
    forced = AppointmentFactory(start=at(DAY, 12), forced=True)
    assert ids(search()) == {plain.pk, urgent.pk, forced.pk}
    assert ids(search(include_urgent=False)) == {plain.pk, forced.pk}
    assert ids(search(urgent_only=True)) == {urgent.pk}
    assert ids(search(include_external=True)) == {plain.pk, urgent.pk, forced.pk, external.pk, no_file.pk}
    assert ids(search(forced_only=True)) == {forced.pk}


def test_sort_orders():
    mm = PractitionerFactory(initials="MM", last_name="Molaire")
    aa = PractitionerFactory(initials="AA", last_name="Alvéole")
    zed = AppointmentFactory(start=at(DAY, 8), practitioner=mm, patient__last_name="Zimmer")
    abe = AppointmentFactory(start=at(DAY, 9), practitioner=aa, patient__last_name="Abel")
    assert [a.pk for a in search()] == [zed.pk, abe.pk]
    assert [a.pk for a in search(order="patient")] == [abe.pk, zed.pk]
    assert [a.pk for a in search(order="practitioner")] == [abe.pk, zed.pk]


# --- next appointment and the missed-appointment follow-up --------------------------------------


def test_without_next_appointment_and_missed_exclusions():
    yesterday = DAY
    rebooked = AppointmentFactory(start=at(yesterday, 9), state=AppointmentState.MISSED)
    AppointmentFactory(patient=rebooked.patient, start=at(yesterday + dt.timedelta(days=7), 9))
    came_since = AppointmentFactory(start=at(yesterday, 10), state=AppointmentState.MISSED)
    AppointmentFactory(
        patient=came_since.patient, start=at(yesterday, 16), state=AppointmentState.PRESENT
    )
    # A future appointment *before* the missed one does not count as a next appointment.
    only_before = AppointmentFactory(start=at(yesterday, 11), state=AppointmentState.MISSED)
    AppointmentFactory(patient=only_before.patient, start=at(yesterday, 8), state=AppointmentState.FUTURE)
    nothing = AppointmentFactory(start=at(yesterday, 12), state=AppointmentState.MISSED)

    missed = {"states": ["manque"]}
    assert ids(search(**missed)) == {rebooked.pk, came_since.pk, only_before.pk, nothing.pk}
    assert ids(search(**missed, exclude_with_next_appointment=True)) == {came_since.pk, only_before.pk, nothing.pk}
    assert ids(search(**missed, without_next_appointment=True)) == {came_since.pk, only_before.pk, nothing.pk}
    assert ids(search(**missed, exclude_came_since=True)) == {rebooked.pk, only_before.pk, nothing.pk}
    both = search(**missed, exclude_with_next_appointment=True, exclude_came_since=True)
    assert ids(both) == {only_before.pk, nothing.pk}


# --- query count ----------------------------------------------------------------------------


def test_query_count_does_not_grow_with_results(django_assert_max_num_queries):
    for hour in range(8, 18):
        AppointmentFactory(start=at(DAY, hour), patient__birth_date=dt.date(2015, 1, 1))
    with django_assert_max_num_queries(1):
        rows = list(search(patient_type="enfant", exclude_came_since=True, without_next_appointment=True))
        # What the grid reads for each row.
        for a in rows:
            _ = (a.patient.display_name, a.patient.practitioner, a.patient.civil_guardian, a.practitioner.initials)
            _ = (a.chair.code, a.nature.code, a.effective_patient_type, a.patient.mobile, a.patient.email)
    assert len(rows) == 10


def test_criteria_survive_json_round_trip():
    c = AppointmentCriteria(date_from=DAY, date_to=DAY, time_from=dt.time(7), practitioner_ids=[3])
    assert AppointmentCriteria.from_json(c.to_json()) == c


# --- patient search -------------------------------------------------------------------------


def psearch(**kwargs):
    kwargs.setdefault("reference_date", DAY)
    return patient_criteria_search(criteria=PatientCriteria(**kwargs))


def test_birthdays_in_range_and_across_new_year():
    dec = PatientFactory(birth_date=dt.date(1990, 12, 28))
    jan = PatientFactory(birth_date=dt.date(2001, 1, 3))
    june = PatientFactory(birth_date=dt.date(1980, 6, 12))
    PatientFactory(birth_date=None)
    assert ids(psearch(birthday_from=dt.date(2024, 12, 20), birthday_to=dt.date(2025, 1, 10))) == {dec.pk, jan.pk}
    assert ids(psearch(birthday_from=dt.date(2024, 6, 12), birthday_to=dt.date(2024, 6, 12))) == {june.pk}
    assert ids(psearch(birthday_from=dt.date(2024, 1, 1), birthday_to=dt.date(2024, 12, 31))) == {
        dec.pk,
        jan.pk,
        june.pk,
    }


def test_29_february_birthday_is_celebrated_on_28_february_in_common_years():
    leapling = PatientFactory(birth_date=dt.date(2000, 2, 29))
    feb28 = PatientFactory(birth_date=dt.date(1999, 2, 28))
    common = ids(psearch(birthday_from=dt.date(2025, 2, 28), birthday_to=dt.date(2025, 2, 28)))
    assert common == {leapling.pk, feb28.pk}
    # In a leap year it is celebrated on its own day, not on the 28th.
    assert ids(psearch(birthday_from=dt.date(2024, 2, 28), birthday_to=dt.date(2024, 2, 28))) == {feb28.pk}
    assert ids(psearch(birthday_from=dt.date(2024, 2, 29), birthday_to=dt.date(2024, 2, 29))) == {leapling.pk}
    assert ids(psearch(birthday_from=dt.date(2025, 3, 1), birthday_to=dt.date(2025, 3, 1))) == set()


def test_birthday_month_days_rule():
    assert birthday_month_days(dt.date(2025, 2, 27), dt.date(2025, 3, 1)) == {227, 228, 229, 301}
    assert birthday_month_days(dt.date(2025, 3, 1), dt.date(2025, 2, 1)) == set()
    assert birthday_month_days(dt.date(2024, 1, 1), dt.date(2025, 1, 1)) is None


def test_age_range_both_bounds_included():
    ten_today = PatientFactory(birth_date=dt.date(2014, 6, 12))
    nine = PatientFactory(birth_date=dt.date(2014, 6, 13))
    twelve_last_day = PatientFactory(birth_date=dt.date(2011, 6, 13))  # 13 tomorrow
    thirteen = PatientFactory(birth_date=dt.date(2011, 6, 12))
    found = ids(psearch(age_min=10, age_max=12))
    assert found == {ten_today.pk, twelve_last_day.pk}
    assert nine.pk not in found and thirteen.pk not in found


def test_patient_type_file_status_practitioner():
    dr = PractitionerFactory(initials="MM")
    child = PatientFactory(birth_date=dt.date(2010, 1, 1), practitioner=dr)
    adult_set_child = PatientFactory(birth_date=dt.date(1970, 1, 1), patient_type=PatientType.CHILD)
    adult = PatientFactory(birth_date=dt.date(1970, 1, 1), file_status=FileStatus.FINISHED)
    assert ids(psearch(patient_type="enfant")) == {child.pk, adult_set_child.pk}
    assert ids(psearch(patient_type="adulte")) == {adult.pk}
    assert ids(psearch(file_statuses=[FileStatus.FINISHED])) == {adult.pk}
    assert ids(psearch(practitioner_ids=[dr.pk])) == {child.pk}


def test_recall_no_visit_held_for_n_months():
    recent = PatientFactory()
    AppointmentFactory(patient=recent, start=at(DAY - dt.timedelta(days=60), 10), state=AppointmentState.PRESENT)
    old = PatientFactory()
    AppointmentFactory(patient=old, start=at(dt.date(2023, 11, 1), 10), state=AppointmentState.PRESENT)
    # Booked recently but missed: no visit held.
    missed = PatientFactory()
    AppointmentFactory(patient=missed, start=at(DAY - dt.timedelta(days=10), 10), state=AppointmentState.MISSED)
    never = PatientFactory()
    found = psearch(no_appointment_since_months=6)
    assert ids(found) == {old.pk, missed.pk, never.pk}
    last = {p.pk: p.last_visit for p in found}
    assert last[old.pk] == at(dt.date(2023, 11, 1), 10)
    assert last[never.pk] is None


def test_contact_and_consents():
    full = PatientFactory()
    no_mobile = PatientFactory(mobile="")
    no_email = PatientFactory(email="")
    refuses_sms = PatientFactory(sms_consent=False)
    refuses_email = PatientFactory(email_consent=False)
    news = PatientFactory(news_consent=True)
    everyone = {full.pk, no_mobile.pk, no_email.pk, refuses_sms.pk, refuses_email.pk, news.pk}
    assert ids(psearch(has_mobile=False)) == {no_mobile.pk}
    assert ids(psearch(has_mobile=True)) == everyone - {no_mobile.pk}
    assert ids(psearch(has_email=False)) == {no_email.pk}
    assert ids(psearch(sms_consent=False)) == {refuses_sms.pk}
    assert ids(psearch(email_consent=False)) == {refuses_email.pk}
    assert ids(psearch(news_consent=True)) == {news.pk}
    assert ids(psearch(news_consent=False)) == everyone - {news.pk}


def test_patient_search_query_count_constant(django_assert_max_num_queries):
    for _ in range(12):
        AppointmentFactory(start=at(DAY - dt.timedelta(days=400), 9), state=AppointmentState.PRESENT)
    with django_assert_max_num_queries(1):
        rows = list(psearch(no_appointment_since_months=12, has_mobile=True))
        for p in rows:
            _ = (p.practitioner, p.family, p.civil_guardian, p.last_visit, p.display_name)
    assert len(rows) == 12


def test_news_consent_is_dated_when_it_changes():
    p = PatientFactory()
    assert p.news_consent is False and p.news_consent_at is None
    p.news_consent = True
    p.save()
    given = Patient.objects.get(pk=p.pk)
    assert given.news_consent and given.news_consent_at is not None
    given.first_name = "Renommée"
    given.save()
    assert Patient.objects.get(pk=p.pk).news_consent_at == given.news_consent_at  # unchanged flag
    given_at = given.news_consent_at
    given.news_consent = False
    given.save(update_fields=["news_consent"])
    withdrawn = Patient.objects.get(pk=p.pk)
    assert withdrawn.news_consent is False and withdrawn.news_consent_at > given_at
    assert PatientFactory(news_consent=True).news_consent_at is not None


def test_date_helpers():
    assert years_before(dt.date(2024, 2, 29), 1) == dt.date(2023, 2, 28)
    assert months_before(dt.date(2024, 5, 31), 3) == dt.date(2024, 2, 29)
    assert months_before(dt.date(2024, 1, 15), 13) == dt.date(2022, 12, 15)
