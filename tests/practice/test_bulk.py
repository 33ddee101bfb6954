import gc

import pytest

from practice.bulk import gc_paused


def test_gc_paused_restores_the_collector_even_after_an_error():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_gc_paused_leaves_a_collector_paused_by_someone_else_paused():
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.django_db
def test_values_rows_are_the_orms_rows_with_the_same_time_zone_objects():
    import datetime as dt

    from django.db import connection
    from django.db.models.expressions import RawSQL
    from django.test.utils import CaptureQueriesContext

    from patients.models import Appointment, Patient
    from patients.selectors import _pk_among
    from practice.bulk import fast_path, values_rows
    from tests.factories import AppointmentFactory, PatientFactory

    patient = PatientFactory(birth_date=dt.date(2012, 2, 29), remark="é « ü » 😀", mobile="06 84 28 55 60")
    Patient.objects.filter(pk=patient.pk).update(news_consent=True,
                                                 news_consent_at=dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC))
    AppointmentFactory(patient=patient, start=dt.datetime(2026, 10, 25, 0, 59, 59, 123456, tzinfo=dt.UTC))
    AppointmentFactory(patient=None, external_name="M. Inconnu", chair=None, nature=None)
    for queryset in (
        Patient.objects.order_by("pk").values_list("id", "birth_date", "remark", "mobile", "news_consent",
                                                   "news_consent_at", "civil_guardian_id", "created_at"),
        Appointment.objects.order_by("pk").values_list("id", "patient_id", "start", "duration", "urgent", "chair_id"),
        # A list parameter (sent in binary), a text one, a literal percent sign in the SQL.
        Patient.objects.filter(_pk_among([patient.pk, 0]), last_name=patient.last_name)
        .annotate(pct=RawSQL("'5%%'", [])).values_list("id", "pct", "first_name"),
    ):
        expected, fetched = list(queryset.all()), queryset.all()
        with CaptureQueriesContext(connection) as ctx:
            got = values_rows(fetched)
        assert got == expected and len(ctx.captured_queries) == 1
        # On PostgreSQL through psycopg in binary, not the ORM's iteration.
        assert (fetched._result_cache is None) == fast_path()
        for got_row, expected_row in zip(got, expected, strict=True):
            for a, b in zip(got_row, expected_row, strict=True):
                assert type(a) is type(b) and getattr(a, "tzinfo", None) is getattr(b, "tzinfo", None)
