"""No message with missing data by accident: the rule of which merge codes are required
(messaging.merge.MergeContext.required), and the outbox that leaves such messages out unless
staff keep them."""

import datetime as dt

import pytest

from messaging.compose import compose_email, compose_sms
from messaging.merge import codes_without, merge_context, render
from messaging.models import (
    Channel,
    FreeField,
    MailingOrigin,
    MessageStatus,
    ParticularField,
    RecipientRole,
)
from messaging.outbox import mailing_create
from messaging.policy import Reason, Recipient, recipients_for
from patients.models import CorrespondentLink
from tests.factories import (
    AppointmentFactory,
    CorrespondentFactory,
    MinorPatientFactory,
    PatientFactory,
    PractitionerFactory,
)
from tests.messaging.sending_helpers import paris

pytestmark = pytest.mark.django_db


@pytest.fixture
def emma():
    prat = PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM")
    return PatientFactory(first_name="Emma", last_name="Ablirant", practitioner=prat, address1="", postcode="",
                          city="")


def _missing(text, **context):
    return [m.code for m in render(text, merge_context(**context)).missing]


def test_appointment_codes_without_an_appointment_are_required(emma):
    assert _missing("RDV de @PPREN @PNOM le @RDV1 (@RDVHEURE, @RDVFAUT)", patient=emma) == [
        "@RDV1", "@RDVHEURE", "@RDVFAUT"]
    result = render("le @RDV1.", merge_context(patient=emma))
    assert result.missing[0].text.startswith("@RDV1 (Date et heure du rendez-vous") and "aucun rendez-vous choisi" in \
        result.missing[0].text


def test_the_missing_data_text_is_in_the_staff_language_the_message_in_the_practice_one(emma, settings):
    """The missing-data and unknown-code warnings are read by the staff member sending (English
    if that is their language); the merged values stay in the practice's language."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "fr"
    with translation.override("en"):
        result = render("Le @RDV1, @ZZZ, à @PPREN.", merge_context(patient=emma))
    assert result.text == "Le , @ZZZ, à Emma."
    # The field's label too (the example keeps the practice's format: it shows the merged value).
    assert result.missing[0].text == "@RDV1 (Date and time of the appointment (02/10/2019 à 11h00)): no appointment chosen."
    assert "The merge field @ZZZ does not exist: it is left as typed." in result.warnings
    with translation.override("fr"):
        result = render("Le @RDV1.", merge_context(patient=emma))
    assert result.missing[0].text == "@RDV1 (Date et heure du rendez-vous (02/10/2019 à 11h00)) : aucun rendez-vous choisi."
def test_an_appointment_without_chair_or_nature_is_no_missing_data(emma):
    appt = AppointmentFactory(patient=emma, practitioner=emma.practitioner, start=paris(2031, 10, 2, 11, 0),
                              chair=None, nature=None)
    result = render("le @RDV1 au fauteuil @RDVFAUT (@RDVNAT)", merge_context(appointment=appt))
    assert result.missing == []
    assert result.warnings  # still told in the preview


def test_address_codes_without_an_address_are_required_but_not_the_second_line(emma):
    assert _missing("@PADR1 @PADR2 @PCPOST @PVILLE", patient=emma) == ["@PADR1", "@PCPOST", "@PVILLE"]


def test_civilities_may_be_empty(emma):
    child = MinorPatientFactory(first_name="Luka")
    assert _missing("Bonjour @PCIVIL @DCIVIL @PPREN2 @PPREN", patient=child) == []


def test_next_appointment_and_recipient_name_are_required(emma):
    assert _missing("Prochain RDV : @PROCHRDV", patient=emma) == ["@PROCHRDV"]
    # A bare number of a campaign's list: nobody's name to merge.
    from messaging.campaigns import ListContact

    assert _missing("Bonjour @DPREN", recipient=ListContact()) == ["@DPREN"]
    assert _missing("Bonjour @DPREN", recipient=ListContact(first_name="Jean")) == []


def test_custom_fields_empty_by_definition_are_optional_unknown_data_is_not(emma):
    ParticularField.objects.create(number=1, label="accord", man="", woman="e", boy="", girl="e")
    FreeField.objects.create(number=1, label="formule", ami="Amicalement", amie="Amicalement", confrere="",
                             consoeur="")
    emma.sex = "M"
    assert _missing("né@PART_01", patient=emma) == []  # empty for a man: as defined
    emma.sex = ""
    assert _missing("né@PART_01", patient=emma) == ["@PART_01"]  # sex unknown
    assert _missing("@LIBRE_01", patient=emma) == ["@LIBRE_01"]  # no correspondent
    cor = CorrespondentFactory()
    assert _missing("@LIBRE_01", patient=emma, correspondent=cor) == ["@LIBRE_01"]  # no relationship
    CorrespondentLink.objects.create(correspondent=cor, practitioner=emma.practitioner, relationship="confrere")
    assert _missing("@LIBRE_01", patient=emma, correspondent=cor) == []  # empty for a colleague: as defined


def test_compose_reports_the_missing_codes_of_subject_body_and_signature(emma):
    sms = compose_sms(body="RDV le @RDV1", patient=emma, recipient=emma)
    assert [m.code for m in sms.missing] == ["@RDV1"]
    email = compose_email(subject="Votre rendez-vous du @RDV1", body_html="<p>Le @RDV1 à @RDVHEURE</p>",
                          patient=emma, recipient=emma)
    assert [m.code for m in email.missing] == ["@RDV1", "@RDVHEURE"]


def test_codes_a_route_without_appointment_can_never_fill():
    assert codes_without(["Joyeux anniversaire @PPREN", "RDV le @RDV1 à @RDVHEURE, @RDV1"], appointment=False) == [
        "@RDV1", "@RDVHEURE"]
    assert codes_without(["RDV le @RDV1"], appointment=True) == []
    assert codes_without(["Prochain : @PROCHRDV"], appointment=False) == []


def _sms_recipient(patient):
    return [r for r in recipients_for(patient=patient, channel=Channel.SMS) if r.sendable][:1]


def test_outbox_leaves_out_a_message_with_missing_data(emma):
    mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
                             recipients=_sms_recipient(emma), sms_body="Rappel : RDV de @PPREN le @RDV1.")
    message = mailing.messages.get()
    assert message.status == MessageStatus.SKIPPED
    assert message.reason.startswith("Données manquantes : @RDV1 (Date et heure du rendez-vous")
    assert "aucun rendez-vous choisi" in message.reason


def test_outbox_sends_it_when_staff_keep_it_with_a_note(emma):
    mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
                             recipients=_sms_recipient(emma), sms_body="Rappel : RDV de @PPREN le @RDV1.",
                             keep_missing=True)
    message = mailing.messages.get()
    assert message.status == MessageStatus.PENDING
    assert message.body == "Rappel : RDV de Emma le ."
    assert message.note == "Envoyé malgré des données manquantes (@RDV1), à la demande du personnel."
    assert message.missing_kept


def test_outbox_checks_the_email_subject_too(emma):
    from tests.messaging.sending_helpers import make_account

    account = make_account()
    email = [r for r in recipients_for(patient=emma, channel=Channel.EMAIL) if r.sendable][:1]
    mailing = mailing_create(channel=Channel.EMAIL, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
                             recipients=email, account=account, email_subject="Confirmation de votre rendez-vous du @RDV1",
                             email_body_html="<p>Bonjour @PPREN</p>")
    message = mailing.messages.get()
    assert message.status == MessageStatus.SKIPPED and "@RDV1" in message.reason


def test_outbox_sends_a_message_whose_data_is_all_there(emma):
    appt = AppointmentFactory(patient=emma, practitioner=emma.practitioner, start=paris(2031, 10, 2, 11, 0))
    mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
                             recipients=_sms_recipient(emma), sms_body="RDV de @PPREN le @RDV1.", appointment=appt)
    message = mailing.messages.get()
    assert message.status == MessageStatus.PENDING and message.body == "RDV de Emma le 02/10/2031 à 11h00."


def test_the_reason_has_a_code_and_a_french_label():
    assert Reason.MISSING_DATA.value == "missing-data"
    assert Reason.MISSING_DATA.label == "Données manquantes : message non envoyé."
    r = Recipient(RecipientRole.OTHER, "x", "+33600000000", Channel.SMS)
    assert r.left_out(Reason.MISSING_DATA).reason == Reason.MISSING_DATA


def test_birthday_date_is_required(emma):
    emma.birth_date = None
    assert _missing("Vous avez @AGPAT, né le @PNAIS", patient=emma) == ["@AGPAT", "@PNAIS"]
    emma.birth_date = dt.date(1990, 5, 4)
    assert _missing("Vous avez @AGPAT", patient=emma, today=dt.date(2020, 5, 4)) == []


def test_the_practice_details_are_settings_not_missing_data(emma):
    # The same for every recipient: a warning of the preview, never a reason to stop every message.
    result = render("Appelez le @CABTEL", merge_context(patient=emma))
    assert result.missing == [] and result.warnings == ["@CABTEL (Téléphone du cabinet) : donnée manquante."]
