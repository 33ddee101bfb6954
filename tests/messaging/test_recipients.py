import pytest

from messaging.models import Channel, RecipientRole
from messaging.recipients import number_recipient, recipients_for
from tests.factories import (
    GuardianFactory,
    MinorPatientFactory,
    PatientFactory,
    PatientRefusingSmsFactory,
    PatientWithoutPhoneFactory,
)


def test_adult_patient_is_their_own_guardian(db):
    patient = PatientFactory(mobile="+33684285560", email="emma@patients.test")
    sms = recipients_for(patient=patient, channel=Channel.SMS)
    assert [r.role for r in sms] == [RecipientRole.PATIENT, RecipientRole.CIVIL_GUARDIAN, RecipientRole.FINANCIAL_GUARDIAN]
    assert [r.address for r in sms] == ["+33684285560"] * 3
    assert [r.is_patient_self for r in sms] == [False, True, True]
    assert all(r.sendable for r in sms)
    assert sms[0].address_display == "06.84.28.55.60"
    email = recipients_for(patient=patient, channel=Channel.EMAIL)
    assert email[0].address == "emma@patients.test"


def test_minor_with_guardians_reaches_each_guardian(db):
    financial = GuardianFactory(first_name="Paul", mobile="+33611223344", email="paul@parents.test")
    child = MinorPatientFactory(financial_guardian=financial)
    sms = recipients_for(patient=child, channel=Channel.SMS)
    assert sms[0].skip_reason == "Aucun numéro de portable."
    assert sms[1].address == "+33613682982" and sms[1].sendable and sms[1].name == "Mme ABLIRANT Stéphanie"
    assert sms[2].address == "+33611223344" and sms[2].sendable
    email = recipients_for(patient=child, channel=Channel.EMAIL)
    assert email[0].skip_reason == "Aucune adresse email."
    assert email[1].address == "stephanie.ablirant@parents.test"


def test_skip_reasons_are_plain_french(db):
    refusing = PatientRefusingSmsFactory()
    assert recipients_for(patient=refusing, channel=Channel.SMS)[0].skip_reason == "Ne souhaite pas recevoir de SMS."
    nophone = PatientWithoutPhoneFactory()
    assert recipients_for(patient=nophone, channel=Channel.SMS)[0].skip_reason == "Aucun numéro de portable."
    no_mail = PatientFactory(email_consent=False)
    assert recipients_for(patient=no_mail, channel=Channel.EMAIL)[0].skip_reason == (
        "Ne souhaite pas être contacté(e) par email."
    )
    # A landline saved in the mobile field (older data) is not taken for a mobile.
    landline = PatientFactory()
    type(landline).objects.filter(pk=landline.pk).update(mobile="+33380320140")
    landline.refresh_from_db()
    assert recipients_for(patient=landline, channel=Channel.SMS)[0].skip_reason == (
        "Le numéro 03.80.32.01.40 n'est pas un portable valide."
    )


def test_number_typed_by_hand():
    assert number_recipient(number="06 84 28 55 60").address == "+33684285560"
    assert number_recipient(number="03 80 32 01 40").skip_reason.startswith("Le numéro 03 80 32 01 40")


def test_a_recipient_is_an_immutable_value():
    import dataclasses

    from messaging.recipients import Recipient

    a = Recipient("patient", "ZIMMER Alexis", "+33684285560", Channel.SMS)
    b = Recipient(role="patient", name="ZIMMER Alexis", address="+33684285560", channel=Channel.SMS,
                  appointment=object())  # the appointment is not part of its identity
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert (a.patient, a.person, a.skip_reason, a.is_patient_self, a.appointment) == (None, None, "", False, None)
    assert a.sendable and a.key == "patient:+33684285560" and a.address_display == "06.84.28.55.60"
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.address = "+33600000000"
    assert dataclasses.replace(a, skip_reason="Aucun numéro.").sendable is False
    assert a != Recipient("patient", "ZIMMER Alexis", "+33684285560", Channel.EMAIL)
