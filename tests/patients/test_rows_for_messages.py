"""appointments_for_messages / patients_for_messages: the rows a mailing writes to, loaded in a
few queries and built without Model.__init__; they must be the ORM's instances in every way the
application can tell."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models.signals import post_init, pre_init
from django.test.utils import CaptureQueriesContext

from patients.models import Appointment, Guardian, Patient
from patients.selectors import (
    MESSAGE_DEFERRED_APPOINTMENT,
    MESSAGE_DEFERRED_PATIENT,
    appointments_for_messages,
    patients_for_messages,
)
from tests.factories import (
    AppointmentFactory,
    ChairFactory,
    GuardianFactory,
    NatureFactory,
    PatientFactory,
    PractitionerFactory,
)


def _fields(instance, deferred):
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields
            if f.name not in deferred}


def _appointments(n):
    molaire, dupuis = PractitionerFactory(last_name="Molaire"), PractitionerFactory(last_name="Dupuis")
    mother = GuardianFactory(last_name="Martin", mobile="06 11 22 33 44")
    chair, nature = ChairFactory(), NatureFactory(label="Détartrage")
    out = []
    for i in range(n):
        patient = PatientFactory(
            practitioner=molaire if i % 2 else dupuis,
            civil_guardian=mother if i % 3 == 0 else None,
            financial_guardian=GuardianFactory() if i % 4 == 0 else None,
            mobile=f"06 12 34 56 {i:02d}",
        )
        out.append(AppointmentFactory(patient=patient, practitioner=molaire, chair=chair if i % 2 else None,
                                      nature=nature))
    return out


def test_no_init_signal_receivers_on_the_models_built_without_init():
    # practice.bulk.instance_builder (fast path) skips Model.__init__, where pre_init / post_init are sent.
    for model in (Patient, Appointment, Guardian):
        assert not pre_init.has_listeners(model)
        assert not post_init.has_listeners(model)


@pytest.mark.django_db
def test_appointments_are_the_orm_instances_with_their_relations():
    made = _appointments(6)
    ids = [a.pk for a in made]
    found = appointments_for_messages(ids)
    assert sorted(found) == sorted(ids)
    reference = Appointment.objects.select_related(
        "patient__practitioner", "patient__civil_guardian", "patient__financial_guardian",
        "practitioner", "chair", "nature",
    ).in_bulk(ids)
    with CaptureQueriesContext(connection) as ctx:
        for pk, ref in reference.items():
            got = found[pk]
            assert got == ref and got._state.adding is False and got._state.db == "default"
            assert _fields(got, MESSAGE_DEFERRED_APPOINTMENT) == _fields(ref, MESSAGE_DEFERRED_APPOINTMENT)
            assert _fields(got.patient, MESSAGE_DEFERRED_PATIENT) == _fields(ref.patient, MESSAGE_DEFERRED_PATIENT)
            assert (got.practitioner, got.chair, got.nature) == (ref.practitioner, ref.chair, ref.nature)
            assert got.patient.practitioner == ref.patient.practitioner
            assert got.patient.civil_guardian == ref.patient.civil_guardian
            assert got.patient.financial_guardian == ref.patient.financial_guardian
            for name in ("civil_guardian", "financial_guardian"):
                if getattr(ref.patient, name) is not None:
                    assert _fields(getattr(got.patient, name), ()) == _fields(getattr(ref.patient, name), ())
            assert got.patient.mobile.startswith("+336")  # stored E.164, as the descriptor gives it
    assert ctx.captured_queries == []  # everything a message reads is loaded


@pytest.mark.django_db
def test_deferred_columns_load_on_access_and_the_instance_saves():
    appointment = _appointments(1)[0]
    Patient.objects.filter(pk=appointment.patient_id).update(remark="Allergique à la pénicilline")
    got = appointments_for_messages([appointment.pk])[appointment.pk]
    assert got.get_deferred_fields() == set(MESSAGE_DEFERRED_APPOINTMENT)
    assert got.patient.remark == "Allergique à la pénicilline"  # one query, like .defer()
    got.patient.first_name = "Léa"
    got.patient.save()
    assert Patient.objects.get(pk=appointment.patient_id).first_name == "Léa"


@pytest.mark.django_db
def test_queries_do_not_grow_with_the_rows():
    few, many = _appointments(3), _appointments(30)
    counts = []
    for rows in (few, many):
        with CaptureQueriesContext(connection) as ctx:
            appointments_for_messages([a.pk for a in rows])
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1] <= 6


@pytest.mark.django_db
def test_appointments_without_patient_and_unknown_ids_are_left_out():
    kept = _appointments(1)[0]
    external = AppointmentFactory(patient=None, external_name="M. Inconnu")
    assert list(appointments_for_messages([kept.pk, external.pk, 999_999])) == [kept.pk]
    assert appointments_for_messages([]) == {}


@pytest.mark.django_db
def test_patients_with_their_practitioner_and_guardians():
    made = [a.patient for a in _appointments(4)]
    found = patients_for_messages([p.pk for p in made])
    with CaptureQueriesContext(connection) as ctx:
        for patient in made:
            got = found[patient.pk]
            assert _fields(got, MESSAGE_DEFERRED_PATIENT) == _fields(patient, MESSAGE_DEFERRED_PATIENT)
            assert got.practitioner == patient.practitioner
            assert got.civil_guardian == patient.civil_guardian
            assert got.civil_responsible() == (patient.civil_guardian or patient)
    assert ctx.captured_queries == []
