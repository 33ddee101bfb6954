import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from patients import services
from patients.models import Appointment, AppointmentState, CancelledBy, Guardian, Patient
from patients.services import GuardianChoice, GuardianMode
from tests.factories import (
    AppointmentFactory,
    ChairFactory,
    CorrespondentFactory,
    GuardianFactory,
    MinorPatientFactory,
    NatureFactory,
    PatientFactory,
    PractitionerFactory,
)

pytestmark = pytest.mark.django_db


def paris(y, m, d, h, mi=0):
    return timezone.make_aware(dt.datetime(y, m, d, h, mi), timezone.get_current_timezone())


def test_patient_create_with_a_new_civil_guardian_who_is_also_financial():
    patient = services.patient_create(
        data={"last_name": "Zimmer", "first_name": "Alexis", "birth_date": dt.date(2012, 5, 2)},
        civil_guardian=GuardianChoice(
            GuardianMode.NEW, data={"last_name": "Zimmer", "first_name": "Anne", "mobile": "06 13 68 29 82"}
        ),
        financial_guardian=GuardianChoice(GuardianMode.SAME_AS_CIVIL),
    )
    patient.refresh_from_db()
    assert patient.file_number  # the next free number was given
    assert patient.civil_guardian.first_name == "Anne"
    assert str(patient.civil_guardian.mobile) == "+33613682982"
    assert patient.financial_guardian_id == patient.civil_guardian_id
    assert patient.search_key == "ZIMMER ALEXIS"


def test_patient_create_refuses_a_landline_as_mobile_and_saves_nothing():
    with pytest.raises(ValidationError) as info:
        services.patient_create(
            data={"last_name": "Kisiel", "first_name": "Luka", "mobile": "03 80 32 01 40"},
            civil_guardian=GuardianChoice(GuardianMode.NEW, data={"last_name": "Kisiel"}),
        )
    assert "portable" in str(info.value.message_dict["mobile"])
    # The guardian written before the patient failed is rolled back with it.
    assert not Patient.objects.exists()
    assert not Guardian.objects.exists()


def test_patient_update_keeps_guardians_when_not_given_and_switches_to_self():
    minor = MinorPatientFactory()
    guardian = minor.civil_guardian
    services.patient_update(patient=minor, data={"first_name": "Jade"})
    minor.refresh_from_db()
    assert minor.civil_guardian == guardian
    services.patient_update(
        patient=minor, data={}, civil_guardian=services.SELF, financial_guardian=services.SELF
    )
    minor.refresh_from_db()
    assert minor.civil_guardian is None and minor.financial_guardian is None
    assert Guardian.objects.filter(pk=guardian.pk).exists()  # other wards may still need them


def test_an_existing_guardian_is_shared_between_siblings():
    guardian = GuardianFactory()
    patient = services.patient_create(
        data={"last_name": "Ablirant", "first_name": "Jade"},
        civil_guardian=GuardianChoice(GuardianMode.EXISTING, guardian=guardian),
    )
    assert patient.civil_guardian == guardian
    assert patient.financial_guardian is None


def test_patient_set_correspondents_adds_updates_and_removes():
    patient = PatientFactory()
    a, b, c = (
        CorrespondentFactory(last_name="A"),
        CorrespondentFactory(last_name="B"),
        CorrespondentFactory(last_name="C"),
    )
    services.patient_set_correspondents(patient=patient, links=[(a, "Dentiste traitant"), (b, "Médecin")])
    services.patient_set_correspondents(patient=patient, links=[(b, "Orthodontiste"), (c, "")])
    links = {link.correspondent.last_name: link.role for link in patient.correspondent_links.all()}
    assert links == {"B": "Orthodontiste", "C": ""}


def test_family_members_share_the_family_address_and_guardians():
    minor = MinorPatientFactory(
        last_name="Ablirant", address1="3 rue des Lilas", city="Dijon", postcode="21000"
    )
    created = services.family_members_create(
        patient=minor,
        members=[
            {"first_name": "Jade", "sex": "F", "birth_date": dt.date(2015, 11, 8)},
            {"first_name": "Léo", "sex": "M", "birth_date": None},
        ],
    )
    minor.refresh_from_db()
    assert minor.family is not None
    assert [p.first_name for p in created] == ["Jade", "Léo"]
    jade = created[0]
    assert jade.family == minor.family
    assert jade.last_name == "Ablirant" and jade.city == "Dijon"
    assert jade.civil_guardian == minor.civil_guardian
    assert jade.civility == "Enf."
    assert jade.file_number != minor.file_number
    assert set(minor.family_members()) == set(created)


def test_appointment_create_uses_the_nature_duration_and_refuses_an_overlap_unless_forced():
    practitioner, chair = PractitionerFactory(), ChairFactory()
    nature = NatureFactory(code="CTR", label="Contrôle", default_duration=30)
    first = services.appointment_create(
        practitioner=practitioner,
        chair=chair,
        nature=nature,
        patient=PatientFactory(),
        start=paris(2030, 3, 4, 10),
    )
    assert first.duration == 30
    with pytest.raises(ValidationError, match="chevauche"):
        services.appointment_create(
            practitioner=practitioner, chair=chair, patient=PatientFactory(), start=paris(2030, 3, 4, 10, 20)
        )
    forced = services.appointment_create(
        practitioner=practitioner,
        chair=chair,
        patient=PatientFactory(),
        start=paris(2030, 3, 4, 10, 20),
        forced=True,
    )
    assert forced.forced
    # Right after the first one is free.
    services.appointment_create(
        practitioner=practitioner,
        chair=ChairFactory(),
        external_name="M. Livreur",
        start=paris(2030, 3, 4, 10, 50),
    )


def test_a_cancelled_appointment_frees_its_slot():
    appointment = AppointmentFactory(start=paris(2030, 3, 4, 9))
    services.appointment_cancel(appointment=appointment, cancelled_by=CancelledBy.PATIENT)
    services.appointment_create(
        practitioner=appointment.practitioner,
        chair=appointment.chair,
        patient=PatientFactory(),
        start=paris(2030, 3, 4, 9),
    )


def test_appointment_move_changes_slot_and_keeps_state():
    appointment = AppointmentFactory(start=paris(2030, 3, 4, 9), state=AppointmentState.FUTURE)
    other = PractitionerFactory(last_name="Dent", first_name="Claire")
    services.appointment_move(
        appointment=appointment, start=paris(2030, 3, 5, 14, 30), practitioner=other, chair=None
    )
    appointment.refresh_from_db()
    assert appointment.start == paris(2030, 3, 5, 14, 30)
    assert appointment.practitioner == other and appointment.chair is None
    assert appointment.state == AppointmentState.FUTURE


def test_appointment_set_state_requires_who_cancelled_and_clears_it_otherwise():
    appointment = AppointmentFactory(start=timezone.now() - dt.timedelta(days=1))  # past: may be missed
    with pytest.raises(ValidationError, match="cabinet ou du patient"):
        services.appointment_set_state(appointment=appointment, state=AppointmentState.POSTPONED)
    services.appointment_set_state(
        appointment=appointment, state=AppointmentState.POSTPONED, cancelled_by=CancelledBy.PRACTICE
    )
    appointment.refresh_from_db()
    assert (appointment.state, appointment.cancelled_by) == (AppointmentState.POSTPONED, CancelledBy.PRACTICE)
    services.appointment_set_state(
        appointment=appointment, state=AppointmentState.MISSED, cancelled_by="patient"
    )
    appointment.refresh_from_db()
    assert (appointment.state, appointment.cancelled_by) == (AppointmentState.MISSED, "")
    with pytest.raises(ValidationError, match="inconnu"):
        services.appointment_set_state(appointment=appointment, state="perdu")


def test_a_future_appointment_cannot_be_marked_missed_nor_present_before_its_day():
    start = paris(2030, 3, 4, 10)
    appointment = AppointmentFactory(start=start)
    message = "Ce rendez-vous n'a pas encore eu lieu : il ne peut pas être marqué manqué."
    with pytest.raises(ValidationError) as info:
        services.appointment_set_state(appointment=appointment, state=AppointmentState.MISSED)
    assert info.value.messages == [message]
    with pytest.raises(ValidationError, match="présent qu'à partir du 04/03/2030"):
        services.appointment_set_state(appointment=appointment, state=AppointmentState.PRESENT)
    appointment.refresh_from_db()
    assert appointment.state == AppointmentState.FUTURE
    # The same morning, before the appointment: present yes (the patient is in the waiting room),
    # missed not yet; once its time has passed, missed too.
    with pytest.raises(ValidationError, match="marqué manqué"):
        services.appointment_set_state(
            appointment=appointment, state=AppointmentState.MISSED, now=paris(2030, 3, 4, 9, 50)
        )
    services.appointment_set_state(
        appointment=appointment, state=AppointmentState.PRESENT, now=paris(2030, 3, 4, 9, 50)
    )
    assert Appointment.objects.get(pk=appointment.pk).state == AppointmentState.PRESENT
    services.appointment_set_state(
        appointment=appointment, state=AppointmentState.MISSED, now=paris(2030, 3, 4, 10, 30)
    )
    assert Appointment.objects.get(pk=appointment.pk).state == AppointmentState.MISSED
    # Excused and cancelled stay possible ahead of time.
    services.appointment_set_state(appointment=appointment, state=AppointmentState.EXCUSED)


def test_a_child_added_by_an_adult_own_guardian_gets_the_adult_as_guardian():
    parent = PatientFactory(
        civility="Mme", last_name="Mercier", first_name="Élodie", birth_date=dt.date(1985, 4, 12),
        address1="3 rue des Lilas", postcode="21000", city="Dijon", phone="+33380320140",
        email="elodie@patients.test", mobile="+33684285560", sms_consent=True, email_consent=False,
    )
    twelve = timezone.localdate().replace(year=timezone.localdate().year - 12)
    jade, lou, adult = services.family_members_create(
        patient=parent,
        members=[
            {"first_name": "Jade", "sex": "F", "birth_date": twelve},
            {"first_name": "Lou", "sex": "M", "birth_date": twelve},
            {"first_name": "Paul", "sex": "M", "birth_date": dt.date(1980, 1, 1)},
        ],
    )
    guardian = jade.civil_guardian
    assert guardian is not None and jade.financial_guardian_id == guardian.pk
    assert (guardian.civility, guardian.last_name, guardian.first_name) == ("Mme", "Mercier", "Élodie")
    assert (guardian.address1, guardian.postcode, guardian.city) == ("3 rue des Lilas", "21000", "Dijon")
    assert (str(guardian.mobile), str(guardian.phone), guardian.email) == (
        "+33684285560", "+33380320140", "elodie@patients.test"
    )
    assert (guardian.sms_consent, guardian.email_consent) == (True, False)
    # One copy of the parent for both children, also when a third child comes later.
    assert lou.civil_guardian_id == guardian.pk == lou.financial_guardian_id
    (later,) = services.family_members_create(
        patient=Patient.objects.get(pk=parent.pk),
        members=[{"first_name": "Noé", "sex": "M", "birth_date": twelve}],
    )
    assert later.civil_guardian_id == guardian.pk
    assert Guardian.objects.count() == 1
    # An adult member stays their own guardian; the parent's own file is unchanged.
    assert adult.civil_guardian_id is None and adult.financial_guardian_id is None
    parent.refresh_from_db()
    assert parent.civil_guardian_id is None and parent.financial_guardian_id is None


def test_a_child_added_by_an_adult_keeps_the_adult_financial_guardian():
    payer = GuardianFactory(last_name="Mutuelle", first_name="")
    parent = PatientFactory(
        last_name="Mercier", first_name="Élodie", email="elodie@patients.test", financial_guardian=payer
    )
    twelve = timezone.localdate().replace(year=timezone.localdate().year - 12)
    (jade,) = services.family_members_create(
        patient=parent, members=[{"first_name": "Jade", "sex": "F", "birth_date": twelve}]
    )
    assert jade.civil_guardian.first_name == "Élodie"
    assert jade.financial_guardian_id == payer.pk


def test_a_sibling_added_from_a_minor_reuses_the_minor_guardians():
    minor = MinorPatientFactory()
    (sibling,) = services.family_members_create(
        patient=minor, members=[{"first_name": "Lina", "sex": "F", "birth_date": dt.date(2016, 3, 1)}]
    )
    assert sibling.civil_guardian_id == minor.civil_guardian_id
    assert Guardian.objects.count() == 1


def test_patient_create_with_a_taken_file_number_names_its_holder():
    PatientFactory(last_name="Dupont", first_name="Jean", file_number="4521")
    with pytest.raises(ValidationError) as info:
        services.patient_create(data={"last_name": "Kisiel", "first_name": "Luka", "file_number": "4521"})
    assert info.value.message_dict["file_number"] == ["Ce numéro de dossier est déjà utilisé par DUPONT Jean."]
