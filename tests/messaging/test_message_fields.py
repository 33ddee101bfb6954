"""A mass mailing loads only the patient and appointment columns its merge codes read
(messaging.merge.message_fields). Every code, for every kind of recipient and both channels,
must render from instances loaded so exactly as from fully loaded ones, without a query: a
column a code reads but does not declare would cost one query per message."""

from __future__ import annotations

import datetime as dt

import pytest

from messaging.compose import compose_email, compose_sms
from messaging.mass_mailing import DraftRow, row_recipients
from messaging.merge import _PROVIDERS, CustomFields, message_fields
from messaging.models import Channel, ParticularField, RecipientRole
from patients.models import Appointment, PatientType
from patients.selectors import appointments_for_messages
from practice.models import Practice
from tests.factories import AppointmentFactory, GuardianFactory, PatientFactory

pytestmark = pytest.mark.django_db

ROLES = [RecipientRole.PATIENT, RecipientRole.CIVIL_GUARDIAN, RecipientRole.FINANCIAL_GUARDIAN]


@pytest.fixture
def appointments():
    """Patients with every column filled: one with both guardians, one her own guardian whose
    type comes from her age (no type set)."""
    ParticularField.objects.create(number=1, label="né(e)", girl="née", boy="né", woman="née", man="né")
    with_guardians = PatientFactory(
        address1="3 rue des Lilas", address2="Bât. B", postcode="75011", city="Paris", country="France",
        phone="+33140000000", second_first_name="Louise", patient_type=PatientType.CHILD,
        birth_date=dt.date(2015, 2, 3), civil_guardian=GuardianFactory(),
        financial_guardian=GuardianFactory(first_name="Paul", mobile="+33613000001", email="paul@parents.test"),
    )
    own = PatientFactory(patient_type="", birth_date=dt.date(1960, 5, 6), address1="1 place du Marché")
    return [AppointmentFactory(patient=p, duration=45) for p in (with_guardians, own)]


def _texts(appointments, loaded, code, custom, practice, today):
    out = []
    for a in appointments:
        appointment = loaded[a.pk]
        text = f"[{code}]"
        for channel in (Channel.SMS, Channel.EMAIL):
            for role in ROLES:
                for r in row_recipients(DraftRow(appointment.patient, appointment), channel=channel, roles=[role]):
                    common = dict(patient=appointment.patient, appointment=appointment, recipient=r.person,
                                  today=today, custom=custom, practice=practice, next_appointment=False)
                    out.append((r.address, r.skip_reason, compose_sms(body=text, **common).text,
                                compose_email(subject=text, body_html=f"<p>{text}</p>", **common).html))
    return out


@pytest.mark.parametrize("code", [*_PROVIDERS, "@PART_01"])
def test_every_code_renders_from_the_columns_it_declares(appointments, code, django_assert_num_queries):
    custom = CustomFields.load()
    practice = Practice.get()
    today = dt.date(2026, 11, 23)
    ids = [a.pk for a in appointments]
    patient_fields, appointment_fields = message_fields([f"[{code}]"], custom)
    full = appointments_for_messages(ids)
    narrow = appointments_for_messages(ids, patient_fields=patient_fields, appointment_fields=appointment_fields)
    expected = _texts(appointments, full, code, custom, practice, today)
    with django_assert_num_queries(0):
        assert _texts(appointments, narrow, code, custom, practice, today) == expected
    assert any(text != f"[{code}]" for _, _, text, _ in expected) or code.startswith(("@COR", "@LIBRE", "@PROCHRDV"))


def test_only_the_declared_columns_are_loaded(appointments):
    custom = CustomFields.load()
    patient_fields, appointment_fields = message_fields(["Bonjour @PPREN, le @RDV1 (@RDVDUREE min), @PVILLE"], custom)
    loaded = appointments_for_messages([appointments[0].pk], patient_fields=patient_fields,
                                       appointment_fields=appointment_fields)[appointments[0].pk]
    assert "duration" in loaded.__dict__ and "external_name" not in loaded.__dict__
    assert "city" in loaded.patient.__dict__ and "address1" not in loaded.patient.__dict__
    assert loaded.patient.get_deferred_fields() >= {"address1", "phone", "remark"}
    with pytest.raises(ValueError, match="Unknown Appointment columns"):
        appointments_for_messages([appointments[0].pk], appointment_fields=["no_such_column"])
    assert Appointment.objects.get(pk=appointments[0].pk).patient.address1 == "3 rue des Lilas"
